/**
 * The distributed-cron front ends as operators run them: `cronfleet submit` and
 * `cronfleet gearman-worker` processes against a real gearmand and the Perl peers.
 */
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverStatus, serverWorkers } from '../../../src/gearman/admin.js';
import { startGearmand, waitFor, type Gearmand } from '../../helpers/gearmand.js';
import { DatagramReceiver } from '../../syslog/receiver.js';
import { runPerlClient, startPerlWorker, stopProcess } from '../../gearman/perl-peers.js';
import { exited, fileLines, runCli, startCliWorker, writeJson, writeScript, type CliWorker } from './cli-helpers.js';

let gd: Gearmand;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-dcron-'));
const workers: CliWorker[] = [];
beforeAll(async () => {
  gd = await startGearmand();
});
afterAll(async () => {
  for (const w of workers) {
    w.proc.kill('SIGKILL');
    await exited(w.proc);
  }
  await gd?.stop();
});

const servers = (...g: Gearmand[]) => ({ job_servers: g.map((x) => ({ server: x.host, port: x.port })) });
const statusOf = async (g: Gearmand, fn: string) => (await serverStatus(g)).find((f) => f.function === fn);

function worker(args: string[]): CliWorker {
  const w = startCliWorker(args);
  workers.push(w);
  return w;
}

async function registered(g: Gearmand, fn: string, count = 1): Promise<void> {
  await waitFor(async () => (await statusOf(g, fn))?.workers === count, `${count} worker(s) for ${fn} on ${g.port}`);
}

describe('cronfleet submit', () => {
  it('submits each task as a background job with a task@minute unique id, to a Perl worker', async () => {
    const log = path.join(tmp, 'perl-submit.log');
    const perl = startPerlWorker([gd], ['dc_rotate', 'dc_purge'], log);
    try {
      await registered(gd, 'dc_rotate');
      await registered(gd, 'dc_purge');
      const conf = writeJson(path.join(tmp, 'client.json'), servers(gd));
      const r = await runCli(['submit', '--conf', conf, '--tasks', 'dc_rotate', 'dc_purge', '--at', '2026-11-23T10:05:31Z', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const rows = JSON.parse(r.stdout) as Array<{ task: string; unique: string; ok: boolean; handle: string }>;
      expect(rows.map((x) => [x.task, x.unique, x.ok])).toEqual([
        ['dc_rotate', 'dc_rotate@2026-11-23T10:05Z', true],
        ['dc_purge', 'dc_purge@2026-11-23T10:05Z', true],
      ]);
      await waitFor(() => fileLines(log).length === 2, 'the Perl worker ran both tasks');
      expect(fileLines(log).map((l) => l.split('\t')[0]).sort()).toEqual(['dc_purge', 'dc_rotate']);
    } finally {
      await stopProcess(perl);
    }
  });

  it('exits 2 naming the field for a bad conf, and 1 when no server accepts', async () => {
    const bad = writeJson(path.join(tmp, 'bad-client.json'), { job_servers: [{ server: 'h', port: 'x' }] });
    const r = await runCli(['submit', '--conf', bad, '--tasks', 't']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad-client\.json: job_servers\.0\.port: /);
    const missing = await runCli(['submit', '--conf', path.join(tmp, 'nope.json'), '--tasks', 't']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.json: cannot read/);
    const dead = writeJson(path.join(tmp, 'dead.json'), { job_servers: [{ server: '127.0.0.1', port: 1 }] });
    const r2 = await runCli(['submit', '--conf', dead, '--tasks', 't', '--timeout', '2s']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/no job server accepted t: 127\.0\.0\.1:1: cannot connect/);
  });
});

describe('cronfleet gearman-worker', () => {
  it('exits 2 for a heartbeat longer than half the lease, naming both options', async () => {
    const conf = writeJson(path.join(tmp, 'worker-beat.json'), { ...servers(gd), jobs: {} });
    const r = await runCli(['gearman-worker', '--conf', conf, '--store', 'sqlite::memory:', '--lease', '10s', '--heartbeat', '6s']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--heartbeat \(6s\) must be at most half of --lease \(10s\)/);
  });

  it('runs mapped scripts for a Perl client, never an unmapped name, and logs debug runs to syslog', async () => {
    const out = path.join(tmp, 'mapped.out');
    const script = writeScript(path.join(tmp, 'mapped.sh'), `echo "$CRONFLEET_TASK $CRONFLEET_GEARMAN_UNIQUE" >> ${out}; echo to-the-log; echo err-line >&2`);
    const logDir = mkdtempSync(path.join(tmp, 'logs-'));
    const syslog = new DatagramReceiver();
    const conf = writeJson(path.join(tmp, 'worker-debug.json'), { ...servers(gd), jobs: { dc_mapped: script }, debug: true });
    const w = worker(['--conf', conf, '--syslog-socket', syslog.path, '--client-id', 'dc-debug', '--log-dir', logDir]);
    try {
      await registered(gd, 'dc_mapped');
      const ws = (await serverWorkers(gd)).find((x) => x.clientId === 'dc-debug');
      expect(ws?.functions).toEqual(['dc_mapped']);
      const r = await runPerlClient([gd], 'dc_mapped', { unique: 'perl-dc' });
      expect(r.code).toBe(0);
      await runPerlClient([gd], 'dc_unmapped', { unique: 'perl-unmapped' });
      await waitFor(() => fileLines(out).length === 1, 'the mapped script ran');
      expect(fileLines(out)).toEqual(['dc_mapped perl-dc']);
      await waitFor(() => fileLines(path.join(logDir, 'dc_mapped.perl-dc.log')).length === 2, 'the run\'s output in its log file');
      expect(fileLines(path.join(logDir, 'dc_mapped.perl-dc.log')).sort()).toEqual(['err-line', 'to-the-log']);
      const msgs = await syslog.waitFor(2);
      // facility user (1) * 8 + info (6) = 14
      expect(msgs[0]).toMatch(/^<14>\w{3} [ \d]\d \d\d:\d\d:\d\d cronfleet-gearman-worker\[\d+\]: running task dc_mapped at \d{4}-/);
      expect(msgs[1]).toMatch(/task dc_mapped started at .* ended: exit 0/);
      // The unmapped job stays queued: nobody here offers it.
      expect(await statusOf(gd, 'dc_unmapped')).toMatchObject({ total: 1, running: 0, workers: 0 });
    } finally {
      w.proc.kill('SIGTERM');
      await exited(w.proc);
      syslog.close();
    }
    expect(w.proc.exitCode).toBe(0);
  });

  it('answers WORK_FAIL for a crashing or timed-out script and keeps serving', async () => {
    const crash = writeScript(path.join(tmp, 'crash.sh'), 'echo about to crash\nkill -SEGV $$');
    const hang = writeScript(path.join(tmp, 'hang.sh'), 'sleep 60');
    const fine = writeScript(path.join(tmp, 'fine.sh'), 'echo fine');
    const conf = writeJson(path.join(tmp, 'worker-crash.json'), { ...servers(gd), jobs: { dc_crash: crash, dc_hang: hang, dc_fine: fine } });
    const w = worker(['--conf', conf, '--timeout', '1s', '--kill-grace', '1s', '--concurrency', '2']);
    await registered(gd, 'dc_fine');
    const { GearmanClient } = await import('../../../src/gearman/client.js');
    const client = new GearmanClient({ servers: [gd], jobTimeoutMs: 30_000 });
    try {
      const [crashed, hung] = await Promise.all([client.submit('dc_crash'), client.submit('dc_hang')]);
      expect(crashed.outcome).toEqual({ status: 'fail' });
      expect(hung.outcome).toEqual({ status: 'fail' });
      expect(w.stderr()).toMatch(/dc_crash \(H:[^)]*\): killed by SIGSEGV/);
      expect(w.stderr()).toMatch(/dc_hang \(H:[^)]*\): timed out/);
      expect((await client.submit('dc_fine')).outcome).toEqual({ status: 'complete', data: Buffer.from('fine\n') });
    } finally {
      client.close();
      w.proc.kill('SIGTERM');
      await exited(w.proc);
    }
  });

  it('the same task submitted from three clients for the same minute runs once', async () => {
    const out = path.join(tmp, 'once.out');
    const script = writeScript(path.join(tmp, 'once.sh'), `echo "$CRONFLEET_GEARMAN_UNIQUE" >> ${out}; sleep 0.3`);
    const conf = writeJson(path.join(tmp, 'worker-once.json'), { ...servers(gd), jobs: { dc_once: script } });
    const client = writeJson(path.join(tmp, 'client-once.json'), servers(gd));
    const w = worker(['--conf', conf]);
    await registered(gd, 'dc_once');
    const submit = () => runCli(['submit', '--conf', client, '--tasks', 'dc_once', '--at', '2026-11-23T10:07:00Z']);
    // Two at once (gearmand merges while queued or running) and one after the run ended (the worker remembers).
    const [a, b] = await Promise.all([submit(), submit()]);
    expect([a.code, b.code]).toEqual([0, 0]);
    await waitFor(async () => (await statusOf(gd, 'dc_once'))?.total === 0, 'first run finished');
    const c = await submit();
    expect(c.code).toBe(0);
    await waitFor(() => /skipped dc_once \(dc_once@2026-11-23T10:07Z\): already run/.test(w.stderr()), 'the third submit seen as a duplicate');
    expect(fileLines(out)).toEqual(['dc_once@2026-11-23T10:07Z']);
    // A different minute is a different fire.
    expect((await runCli(['submit', '--conf', client, '--tasks', 'dc_once', '--at', '2026-11-23T10:08:00Z'])).code).toBe(0);
    await waitFor(() => fileLines(out).length === 2, 'the next minute ran');
  });

  it('a worker killed mid-job: the job is requeued and completes once', async () => {
    const started = path.join(tmp, 'killed.started');
    const done = path.join(tmp, 'killed.done');
    const release = path.join(tmp, 'killed.release');
    const script = writeScript(
      path.join(tmp, 'killed.sh'),
      `echo $$ >> ${started}\nwhile [ ! -e ${release} ]; do sleep 0.05; done\necho "$CRONFLEET_GEARMAN_UNIQUE" >> ${done}`,
    );
    const conf = writeJson(path.join(tmp, 'worker-killed.json'), { ...servers(gd), jobs: { dc_killed: script } });
    const first = worker(['--conf', conf]);
    await registered(gd, 'dc_killed');
    const client = writeJson(path.join(tmp, 'client-killed.json'), servers(gd));
    expect((await runCli(['submit', '--conf', client, '--tasks', 'dc_killed'])).code).toBe(0);
    await waitFor(() => fileLines(started).length === 1, 'the first worker started the job');
    // The node is lost: the worker and its task's process group die together.
    first.proc.kill('SIGKILL');
    process.kill(-Number(fileLines(started)[0]), 'SIGKILL');
    await exited(first.proc);
    await waitFor(async () => (await statusOf(gd, 'dc_killed'))?.running === 0, 'gearmand noticed the lost worker');
    expect(await statusOf(gd, 'dc_killed')).toMatchObject({ total: 1, workers: 0 });
    const second = worker(['--conf', conf]);
    await waitFor(() => fileLines(started).length === 2, 'the requeued job started on the second worker');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(release, '');
    await waitFor(async () => (await statusOf(gd, 'dc_killed'))?.total === 0, 'the job completed');
    expect(fileLines(done)).toHaveLength(1);
    second.proc.kill('SIGTERM');
    await exited(second.proc);
  });
});

describe('two job servers, one killed', () => {
  it('jobs still flow; ours fail over where the Perl client with a unique id cannot; servers chosen as Perl does', async () => {
    const gd2 = await startGearmand();
    const both = [gd, gd2];
    const out = path.join(tmp, 'two.out');
    const script = writeScript(path.join(tmp, 'two.sh'), `echo "$CRONFLEET_GEARMAN_UNIQUE" >> ${out}`);
    const confW = writeJson(path.join(tmp, 'worker-two.json'), { ...servers(gd, gd2), jobs: { dc_two: script } });
    const confC = writeJson(path.join(tmp, 'client-two.json'), servers(gd, gd2));
    try {
      // Same server as Perl: with no worker for dc_where, queued jobs show which server got them.
      const { perlServerIndex } = await import('../../../src/gearman/client.js');
      const uniques = ['a@1', 'b@2', 'c@3', 'd@4', 'e@5', 'f@6'];
      for (const u of uniques) await runPerlClient(both, 'dc_where', { unique: u });
      const perlCounts = await Promise.all(both.map(async (g) => (await statusOf(g, 'dc_where'))?.total ?? 0));
      const expected = [0, 0];
      for (const u of uniques) expected[perlServerIndex(u, 2)]!++;
      expect(perlCounts).toEqual(expected);
      expect(expected[0]! > 0 && expected[1]! > 0).toBe(true);

      const w = worker(['--conf', confW]);
      await registered(gd, 'dc_two');
      await registered(gd2, 'dc_two');
      await gd2.kill();
      // Minutes whose ids hash to the dead server: Perl gives up, we use the other one.
      const minutes = Array.from({ length: 12 }, (_, i) => `2026-11-23T11:${String(i).padStart(2, '0')}:00Z`);
      const toDead = minutes.filter((m) => perlServerIndex(`dc_two@${m.slice(0, 16)}Z`, 2) === 1);
      expect(toDead.length).toBeGreaterThan(0);
      const perl = await runPerlClient(both, 'dc_two', { unique: `dc_two@${toDead[0]!.slice(0, 16)}Z` });
      expect(perl.lines).toEqual(['undef']);
      for (const m of minutes) {
        const r = await runCli(['submit', '--conf', confC, '--tasks', 'dc_two', '--at', m, '--timeout', '2s', '--json']);
        expect(r.code).toBe(0);
        expect((JSON.parse(r.stdout) as Array<{ server: string }>)[0]!.server).toBe(`127.0.0.1:${gd.port}`);
      }
      await waitFor(() => fileLines(out).length === minutes.length, 'every minute ran on the surviving server');
      // The killed server comes back on its port: the worker reconnects and registers again.
      const back = await startGearmand({ port: gd2.port });
      try {
        await registered(back, 'dc_two');
        expect(fileLines(out).length).toBe(minutes.length);
        // And it serves the returning server again: a minute that hashes there runs.
        const again = minutes.find((m) => perlServerIndex(`dc_two@${m.slice(0, 16)}Z#again`, 2) === 1)!;
        const r = await runCli(['submit', '--conf', confC, '--tasks', 'dc_two', '--at', again, '--unique-format', '{task}@{minute}#again', '--json']);
        expect((JSON.parse(r.stdout) as Array<{ server: string }>)[0]!.server).toBe(`127.0.0.1:${back.port}`);
        await waitFor(() => fileLines(out).length === minutes.length + 1, 'a job from the returning server ran');
        expect(/lost 127\.0\.0\.1:\d+.*retrying in \d+ ms/.test(w.stderr())).toBe(true);
      } finally {
        await back.stop();
      }
    } finally {
      await gd2.stop();
    }
  });
});
