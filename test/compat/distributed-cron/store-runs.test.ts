/**
 * A gearman-worker started with a store records each job as a run, so the same history a node
 * keeps (`cronfleet runs`) covers jobs that came from a distributed-cron client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGearmand, waitFor, type Gearmand } from '../../helpers/gearmand.js';
import { serverStatus } from '../../../src/gearman/admin.js';
import { runPerlClient } from '../../gearman/perl-peers.js';
import { exited, runCli, startCliWorker, writeJson, writeScript } from './cli-helpers.js';

let gd: Gearmand;
let tmp: string;
beforeAll(async () => {
  gd = await startGearmand();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-dcron-store-'));
});
afterAll(async () => {
  await gd?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('gearman-worker --store', () => {
  it('records every job as a run that `cronfleet runs --store` lists with its output and status', async () => {
    const ok = writeScript(path.join(tmp, 'ok.sh'), 'echo done-ok');
    const bad = writeScript(path.join(tmp, 'bad.sh'), 'echo broken >&2; exit 4');
    const conf = writeJson(path.join(tmp, 'worker.json'), { job_servers: [{ server: gd.host, port: gd.port }], jobs: { dc_ok: ok, dc_bad: bad } });
    const store = `sqlite:${path.join(tmp, 'runs.db')}`;
    const w = startCliWorker(['--conf', conf, '--store', store, '--node', 'gw-1']);
    try {
      await waitFor(async () => (await serverStatus(gd)).filter((f) => f.workers === 1).length === 2, 'the worker to register both tasks');
      expect((await runPerlClient([gd], 'dc_ok', { unique: 'u-ok' })).code).toBe(0);
      await runPerlClient([gd], 'dc_bad', { unique: 'u-bad' });
      const list = async () => JSON.parse((await runCli(['runs', '--store', store, '--json'])).stdout) as Array<Record<string, unknown>>;
      await waitFor(async () => (await list()).filter((r) => r.status !== 'running').length === 2, 'both runs recorded as finished');
      const runs = await list();
      const byTask = Object.fromEntries(runs.map((r) => [r.task, r]));
      expect(byTask.dc_ok).toMatchObject({ schedule: 'gearman:dc_ok', node: 'gw-1', status: 'succeeded', exitCode: 0, attempt: 1 });
      expect(byTask.dc_bad).toMatchObject({ schedule: 'gearman:dc_bad', node: 'gw-1', status: 'failed', exitCode: 4, reason: 'exit 4' });
      const logs = await runCli(['logs', String(byTask.dc_bad!.id), '--store', store]);
      expect(logs.stderr).toBe('broken\n');
    } finally {
      w.proc.kill('SIGTERM');
      await exited(w.proc);
    }
  });

  it('renews its runs\' leases while they run, lists itself as a node that takes no store tasks, and a killed worker\'s run is lost one lease later', async () => {
    const slow = writeScript(path.join(tmp, 'slow.sh'), 'sleep 4; echo slept');
    const conf = writeJson(path.join(tmp, 'slow.json'), { job_servers: [{ server: gd.host, port: gd.port }], jobs: { dc_slow: slow } });
    const store = `sqlite:${path.join(tmp, 'lease.db')}`;
    const beat = ['--store', store, '--lease', '1500ms', '--heartbeat', '250ms'];
    // A second worker on the same store serves nothing submitted here; it sweeps expired leases.
    const idle = writeJson(path.join(tmp, 'idle.json'), { job_servers: [{ server: gd.host, port: gd.port }], jobs: { dc_idle: slow } });
    const sweeper = startCliWorker(['--conf', idle, ...beat, '--node', 'gw-sweeper']);
    const w = startCliWorker(['--conf', conf, ...beat, '--node', 'gw-a']);
    try {
      await waitFor(async () => (await serverStatus(gd)).filter((f) => f.function.startsWith('dc_') && f.workers === 1).length >= 2, 'both workers registered');
      const nodes = JSON.parse((await runCli(['nodes', '--store', store, '--json'])).stdout) as Array<Record<string, unknown>>;
      expect(nodes.find((n) => n.name === 'gw-a')).toMatchObject({ tasks: [], scheduler: false });
      // Twice through: the first job ends normally though it outlives its lease twice over.
      expect((await runPerlClient([gd], 'dc_slow', { unique: 'slow-1', mode: 'fg' })).lines[0]).toBe('result\tslept');
      const list = async () => JSON.parse((await runCli(['runs', '--store', store, '--json'])).stdout) as Array<Record<string, unknown>>;
      expect((await list()).map((r) => r.status)).toEqual(['succeeded']);
      expect(sweeper.stderr()).not.toContain('marked');

      await runPerlClient([gd], 'dc_slow', { unique: 'slow-2' });
      await waitFor(async () => (await list()).some((r) => r.status === 'running'), 'the second job running');
      w.proc.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(async () => (await list()).some((r) => r.status === 'lost'), 'the killed worker\'s run marked lost', 10_000);
      // Lost once its lease ran out, by the sweeper's next beat: well before the job's own end.
      expect(Date.now() - killedAt).toBeLessThan(4_000);
      const lost = (await list()).find((r) => r.status === 'lost')!;
      expect(lost).toMatchObject({ node: 'gw-a', task: 'dc_slow' });
    } finally {
      for (const p of [w.proc, sweeper.proc]) p.kill('SIGTERM');
      await Promise.all([exited(w.proc), exited(sweeper.proc)]);
    }
  });

  it('stops a recorded run that `cronfleet cancel` asks to stop, and records it cancelled with the reason', async () => {
    const slow = writeScript(path.join(tmp, 'long.sh'), 'sleep 30');
    const conf = writeJson(path.join(tmp, 'long.json'), { job_servers: [{ server: gd.host, port: gd.port }], jobs: { dc_long: slow } });
    const store = `sqlite:${path.join(tmp, 'cancel.db')}`;
    const w = startCliWorker(['--conf', conf, '--store', store, '--heartbeat', '200ms', '--node', 'gw-c', '--kill-grace', '1s']);
    try {
      await waitFor(async () => (await serverStatus(gd)).find((f) => f.function === 'dc_long')?.workers === 1, 'the worker registered');
      const list = async () => JSON.parse((await runCli(['runs', '--store', store, '--json'])).stdout) as Array<Record<string, unknown>>;
      const client = runPerlClient([gd], 'dc_long', { unique: 'long-1', mode: 'fg' });
      await waitFor(async () => (await list()).some((r) => r.status === 'running'), 'the job running');
      const id = String((await list())[0]!.id);
      expect((await runCli(['cancel', id, '--store', store])).code).toBe(0);
      await waitFor(async () => (await list())[0]!.status === 'cancelled', 'the run recorded cancelled', 10_000);
      expect((await list())[0]).toMatchObject({ status: 'cancelled', reason: expect.stringContaining('cancel') });
      // The job server hears the job failed (the script did not exit 0).
      expect((await client).lines).toEqual(['failed']);
    } finally {
      w.proc.kill('SIGTERM');
      await exited(w.proc);
    }
  });
});
