import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { processNiceness, processStartTicks } from '../../../src/proc.js';
import { RcronSandbox, assertBuilt, running, startRcron, runRcron, waitUntil } from './harness.js';

const sandboxes: RcronSandbox[] = [];
const strays: number[] = [];
beforeAll(assertBuilt);
afterEach(() => {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const s of sandboxes.splice(0)) s.close();
});

function activeSandbox(extra: Record<string, string> = {}): RcronSandbox {
  const s = new RcronSandbox();
  sandboxes.push(s);
  s.writeConf(extra);
  writeFileSync(s.stateFile, 'active\n');
  return s;
}

/** Waits for the start line and returns the job's pid from it. */
async function jobPid(s: RcronSandbox): Promise<number> {
  await waitUntil(() => s.syslog.texts().some((t) => / started pid=\d+: /.test(t)), 'the start line');
  const line = s.lines().find((l) => / started pid=\d+: /.test(l.text))!;
  const pid = Number(/ started pid=(\d+)/.exec(line.text)![1]);
  strays.push(pid);
  return pid;
}

function niceOf(pid: number): number {
  const nice = processNiceness(pid);
  if (nice === null) throw new Error(`process ${pid} is gone: no niceness to read`);
  return nice;
}

// A job that reports which signal reached it, then exits 5 on its own.
const TRAPPING = (file: string) =>
  `for s in TERM INT HUP; do trap "echo $s > ${file}; exit 5" $s; done; while :; do sleep 0.05; done`;

describe('rcron running a job', () => {
  it('runs the job at rcron niceness + nice_level, read from the job /proc/<pid>/stat', async () => {
    const s = activeSandbox({ nice_level: '7' });
    const { child, done } = startRcron(['--conf', s.conf, 'sleep', '60']);
    const pid = await jobPid(s);
    expect(niceOf(pid)).toBe(Math.min(19, getPriority(0) + 7));
    child.kill('SIGTERM');
    expect((await done).code).toBe(128 + 15);
  });

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`forwards ${sig} to the job and exits with the job's own status`, async () => {
      const s = activeSandbox();
      const got = join(s.dir, 'got');
      const { child, done } = startRcron(['--conf', s.conf, 'sh', '-c', TRAPPING(got)]);
      await jobPid(s);
      child.kill(sig);
      const result = await done;
      expect(readFileSync(got, 'utf8')).toBe(`${sig.slice(3)}\n`);
      expect(result.code).toBe(5);
      await s.syslog.waitFor(2);
      expect(s.lines()[1]!.text).toMatch(/ finished pid=\d+ status=5 duration=/);
    });
  }

  it('exits 128+n when the job dies of signal n, and logs the signal', async () => {
    const s = activeSandbox();
    const result = await runRcron(['--conf', s.conf, 'sh', '-c', 'kill -USR1 $$']);
    expect(result.code).toBe(128 + 10);
    await s.syslog.waitFor(2);
    expect(s.lines()[1]!.text).toMatch(/ finished pid=\d+ status=138 signal=SIGUSR1 duration=/);
  });

  it('logs a kill -9 of the job as its end (status 137) and leaves no journal entry behind', async () => {
    const s = activeSandbox();
    const { done } = startRcron(['--conf', s.conf, 'sleep', '60']);
    const pid = await jobPid(s);
    expect(readdirSync(join(s.journalDir, 'jobs'))).toEqual([`${pid}.json`]);
    process.kill(pid, 'SIGKILL');
    expect((await done).code).toBe(137);
    await s.syslog.waitFor(2);
    expect(s.lines()[1]!.text).toMatch(new RegExp(`^cluster=jobs finished pid=${pid} status=137 signal=SIGKILL `));
    expect(readdirSync(join(s.journalDir, 'jobs'))).toEqual([]);
    // The next run has nothing to report: the end was seen.
    writeFileSync(s.stateFile, 'passive\n');
    await runRcron(['--conf', s.conf, 'true']);
    await s.syslog.waitFor(3);
    expect(s.lines()[2]!.text).toBe('cluster=jobs passive, skipped: true');
    expect(s.syslog.texts()).toHaveLength(3);
  });
});

describe('interrupted jobs', () => {
  it('reports, once and without relaunching, a job whose rcron was killed with -9', async () => {
    const s = activeSandbox();
    const marker = join(s.dir, 'launches');
    const { child, exited } = startRcron(['--conf', s.conf, 'sh', '-c', `echo x >> ${marker}; exec sleep 60`]);
    const pid = await jobPid(s);
    child.kill('SIGKILL');
    await exited;
    // rcron died, its job lives on (orphaned): not interrupted yet, nothing to report.
    expect(running(pid)).toBe(true);
    writeFileSync(s.stateFile, 'passive\n');
    await runRcron(['--conf', s.conf, 'true']);
    await s.syslog.waitFor(2);
    expect(s.lines().map((l) => l.text)).toEqual([expect.stringMatching(/ started pid=/), 'cluster=jobs passive, skipped: true']);

    // Now the job ends with nobody watching: the next run reports it, at warning level.
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !running(pid), `pid ${pid} to end`);
    writeFileSync(s.stateFile, 'active\n');
    const next = await runRcron(['--conf', s.conf, 'true']);
    expect(next.code).toBe(0);
    await s.syslog.waitFor(5);
    const report = s.lines()[2]!;
    expect(report.pri).toBe(19 * 8 + 4);
    expect(report.text).toMatch(
      new RegExp(`^cluster=jobs interrupted pid=${pid} started=\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: sh -c "echo x >> .*; exec sleep 60" \\(rcron pid ${child.pid} ended before the job; its outcome is unknown, not relaunched\\)$`),
    );
    expect(s.lines()[3]!.text).toMatch(/ started pid=\d+: true$/);
    expect(s.lines()[4]!.text).toMatch(/ finished pid=\d+ status=0 /);
    expect(readFileSync(marker, 'utf8')).toBe('x\n');

    // Reported once: the entry is gone.
    await runRcron(['--conf', s.conf, 'true']);
    await s.syslog.waitFor(7);
    expect(s.lines()[6]!.text).toMatch(/ finished pid=\d+ status=0 /);
    expect(s.syslog.texts().filter((t) => t.includes('interrupted'))).toHaveLength(1);
    expect(readdirSync(join(s.journalDir, 'jobs'))).toEqual([]);
  });

  it('takes a reused pid for a gone job (its /proc start time differs)', async () => {
    const s = activeSandbox();
    const dir = join(s.journalDir, 'jobs');
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // pid is this test process (alive), but the start time recorded is not its own; the
    // rcron pid is one that cannot exist (above pid_max).
    const entry = { pid: process.pid, startTicks: '1', boot: bootId, rcronPid: 2 ** 30, rcronStartTicks: '1', command: ['old-job'], startedAt: 0 };
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(entry));
    writeFileSync(s.stateFile, 'passive\n');
    await runRcron(['--conf', s.conf, 'true']);
    await s.syslog.waitFor(2);
    expect(s.lines()[0]!.text).toMatch(new RegExp(`^cluster=jobs interrupted pid=${process.pid} started=1970-01-01T00:00:00.000Z: old-job `));
    expect(existsSync(join(dir, `${process.pid}.json`))).toBe(false);
  });

  it('keeps the entry of a job that is still the same live process', async () => {
    const s = activeSandbox();
    const dir = join(s.journalDir, 'jobs');
    const ticks = processStartTicks(process.pid);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const entry = { pid: process.pid, startTicks: ticks, boot: bootId, rcronPid: 2 ** 30, rcronStartTicks: '1', command: ['live-job'], startedAt: 0 };
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(entry));
    writeFileSync(s.stateFile, 'passive\n');
    await runRcron(['--conf', s.conf, 'true']);
    await s.syslog.waitFor(1);
    expect(s.lines().map((l) => l.text)).toEqual(['cluster=jobs passive, skipped: true']);
    expect(existsSync(join(dir, `${process.pid}.json`))).toBe(true);
  });
});
