import { readFileSync, existsSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { GearmanClient, perlServerIndex } from '../../src/gearman/client.js';
import { GearmanWorker, type WorkerJob } from '../../src/gearman/worker.js';
import { serverStatus, serverVersion, serverWorkers } from '../../src/gearman/admin.js';
import { startGearmand, waitFor, type Gearmand } from '../helpers/gearmand.js';
import { runPerlClient, startPerlWorker, stopProcess } from './perl-peers.js';

let gd: Gearmand;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-gearman-test-'));
beforeAll(async () => {
  gd = await startGearmand();
});
afterAll(async () => {
  await gd?.stop();
});

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);

describe('our client and our worker through a real gearmand', () => {
  it('runs foreground jobs with the worker answering complete, fail and exception truthfully', async () => {
    const seen: WorkerJob[] = [];
    const worker = new GearmanWorker({
      servers: [gd],
      functions: ['echo', 'refuse', 'crash'],
      concurrency: 2,
      handler: async (job) => {
        seen.push(job);
        if (job.function === 'echo') return { status: 'complete', data: Buffer.concat([Buffer.from('got:'), job.data]) };
        if (job.function === 'refuse') return { status: 'fail' };
        throw new Error('handler blew up');
      },
    });
    await worker.start();
    const client = new GearmanClient({ servers: [gd], jobTimeoutMs: 20_000 });
    try {
      const ok = await client.submit('echo', Buffer.from('a\0b'), { unique: 'echo-1' });
      expect(ok.outcome).toEqual({ status: 'complete', data: Buffer.from('got:a\0b') });
      expect(seen[0]!.unique).toBe('echo-1');
      expect((await client.submit('refuse', 'x')).outcome).toEqual({ status: 'fail' });
      const crashed = await client.submit('crash', 'x');
      expect(crashed.outcome).toEqual({ status: 'exception', data: Buffer.from('handler blew up') });
      // The worker is still serving after a crashing handler.
      expect((await client.submit('echo', 'again')).outcome).toEqual({ status: 'complete', data: Buffer.from('got:again') });
    } finally {
      client.close();
      await worker.stop();
    }
  });

  it('runs background jobs N at once and reports status while they run', async () => {
    let active = 0;
    let peak = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const done: string[] = [];
    const worker = new GearmanWorker({
      servers: [gd],
      functions: ['slow'],
      concurrency: 3,
      handler: async (job) => {
        active++;
        peak = Math.max(peak, active);
        await gate;
        active--;
        done.push(job.unique);
        return { status: 'complete' };
      },
    });
    await worker.start();
    const client = new GearmanClient({ servers: [gd] });
    try {
      const subs = [];
      for (let i = 0; i < 6; i++) subs.push(await client.submitBackground('slow', `job${i}`, { unique: `slow-${i}` }));
      await waitFor(() => active === 3, 'three jobs running at once');
      const st = await client.getStatus(subs[0]!);
      expect(st.known).toBe(true);
      const fns = await serverStatus(gd);
      const slow = fns.find((f) => f.function === 'slow');
      expect(slow).toMatchObject({ total: 6, running: 3, workers: 1 });
      release();
      await waitFor(() => done.length === 6, 'all six background jobs done');
      expect(peak).toBe(3);
      expect(new Set(done).size).toBe(6);
      await waitFor(async () => !(await client.getStatus(subs[5]!)).known, 'finished job unknown to the server');
    } finally {
      client.close();
      await worker.stop();
    }
  });

  it('holds the concurrency limit across several job servers', async () => {
    const gd2 = await startGearmand();
    let active = 0;
    let peak = 0;
    let finished = 0;
    const worker = new GearmanWorker({
      servers: [gd, gd2],
      functions: ['spread'],
      concurrency: 2,
      handler: async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        finished++;
        return { status: 'complete' };
      },
    });
    const client = new GearmanClient({ servers: [gd, gd2] });
    try {
      await worker.start();
      for (let i = 0; i < 30; i++) await client.submitBackground('spread', '', { unique: `spread-${i}` });
      await waitFor(() => finished === 30, 'thirty jobs from two servers');
      expect(peak).toBe(2);
      const perServer = await Promise.all([gd, gd2].map(async (g) => (await serverStatus(g)).find((f) => f.function === 'spread')));
      expect(perServer.map((f) => f?.workers)).toEqual([1, 1]);
    } finally {
      client.close();
      await worker.stop();
      await gd2.stop();
    }
  });

  it('admin status, workers and version read back what is registered', async () => {
    const worker = new GearmanWorker({
      servers: [gd],
      functions: ['adm_a', { name: 'adm_b', timeoutMs: 5000 }],
      clientId: 'cronfleet-test-worker',
      handler: async () => ({ status: 'complete' }),
    });
    await worker.start();
    try {
      await waitFor(async () => (await serverWorkers(gd)).some((w) => w.clientId === 'cronfleet-test-worker' && w.functions.length === 2), 'worker registered');
      const me = (await serverWorkers(gd)).find((w) => w.clientId === 'cronfleet-test-worker')!;
      expect(me.functions.sort()).toEqual(['adm_a', 'adm_b']);
      expect(me.ip).toBe('127.0.0.1');
      const st = await serverStatus(gd);
      expect(st.find((f) => f.function === 'adm_a')).toEqual({ function: 'adm_a', total: 0, running: 0, workers: 1 });
      expect(await serverVersion(gd)).toMatch(/^\d+\.\d+/);
    } finally {
      await worker.stop();
    }
  });
});

describe('client timeouts and failover', () => {
  it('moves on from a server that accepts but never answers, and bounds the wait for a result', async () => {
    // A real TCP peer that reads and never replies: a wedged job server.
    const held: net.Socket[] = [];
    const silent = net.createServer((s) => held.push(s.on('data', () => {})));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentAddr = { host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port };
    const client = new GearmanClient({ servers: [silentAddr, gd], requestTimeoutMs: 500 });
    try {
      const unique = Array.from({ length: 50 }, (_, i) => `wedged-${i}`).find((u) => perlServerIndex(u, 2) === 0)!;
      const started = Date.now();
      const s = await client.submitBackground('nobody_works_this', 'x', { unique });
      expect(s.server.port).toBe(gd.port);
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      await expect(client.submit('nobody_works_this', 'y', { timeoutMs: 300 })).rejects.toThrow(/gave no result within 300 ms/);
    } finally {
      client.close();
      for (const h of held) h.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('interoperation with the Perl peers', () => {
  it('Perl Gearman::Client -> our worker, background and foreground', async () => {
    const got: WorkerJob[] = [];
    const worker = new GearmanWorker({
      servers: [gd],
      functions: ['from_perl'],
      handler: async (job) => {
        got.push(job);
        return { status: 'complete', data: `ok ${job.data.toString()}` };
      },
    });
    await worker.start();
    try {
      const bg = await runPerlClient([gd], 'from_perl', { unique: 'perl-u', count: 3 });
      expect(bg.code).toBe(0);
      expect(bg.lines.filter((l) => l.startsWith('handle\t'))).toHaveLength(3);
      await waitFor(() => got.length === 3, 'three jobs from the Perl client');
      expect(got.map((j) => j.unique).sort()).toEqual(['perl-u-1', 'perl-u-2', 'perl-u-3']);
      const fg = await runPerlClient([gd], 'from_perl', { mode: 'fg' });
      expect(fg.lines).toEqual(['result\tok arg1']);
    } finally {
      await worker.stop();
    }
  });

  it('our client -> Perl Gearman::Worker', async () => {
    const log = path.join(tmp, 'perl-worker.log');
    const perl = startPerlWorker([gd], ['to_perl'], log);
    const client = new GearmanClient({ servers: [gd] });
    try {
      await waitFor(async () => (await serverStatus(gd)).some((f) => f.function === 'to_perl' && f.workers === 1), 'Perl worker registered');
      await client.submitBackground('to_perl', 'bg-payload', { unique: 'to_perl@1' });
      const fg = await client.submit('to_perl', 'fg-payload', { timeoutMs: 20_000 });
      expect(fg.outcome).toEqual({ status: 'complete', data: Buffer.from('done:fg-payload') });
      await waitFor(() => lines(log).length === 2, 'Perl worker ran both jobs');
      expect(lines(log).map((l) => l.split('\t')[2]).sort()).toEqual(['bg-payload', 'fg-payload']);
    } finally {
      client.close();
      await stopProcess(perl);
    }
  });
});
