import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import type { Run } from '../../src/store/types.js';
import { intercept } from '../helpers/intercept.js';
import { waitFor } from '../helpers/wait.js';
import { findGate, isDead } from './helpers.js';

let dir: string;
let node: RunningNode | null;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-exec-'));
  node = null;
});

afterEach(async () => {
  await node?.stop(0);
  rmSync(dir, { recursive: true, force: true });
});

async function start(tasksAndSchedules: string, executorExtra = '', poll = '1s'): Promise<RunningNode> {
  const cfg = parseConfigText(
    `node: { name: exec-test }
store: sqlite:./cf.db
http: false
executor: { heartbeat: 200ms, lease: 5s, poll: ${poll}, killGrace: 500ms, shutdownGrace: 1s${executorExtra} }
${tasksAndSchedules}`,
    join(dir, 'cronfleet.yaml'),
  );
  node = await startNode(cfg, { log: silentLogger() });
  return node;
}

async function trigger(n: RunningNode, schedule: string): Promise<Run> {
  const fire = await n.store.triggerSchedule(schedule, { now: n.clock.now(), nodeTtlMs: 30_000, node: 'test' });
  return fire.runs[0]!;
}

const final = (n: RunningNode, id: number) =>
  waitFor(`run ${id} to finish`, async () => {
    const r = await n.store.getRun(id);
    return r && !['queued', 'running'].includes(r.status) ? r : null;
  });

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const never = 'cron: "0 0 1 1 *"';

/**
 * A node beating every 200 ms with 1 s leases, on a new SQLite store seen through `wrap`, with one
 * task `t` running `command` and a schedule `s` of it that never fires by itself.
 */
async function startShortLeases(command: string, wrap: (base: Store) => Store): Promise<{ node: RunningNode; file: string }> {
  const file = join(dir, 'cf.db');
  const base = await openStore(`sqlite:${file}`);
  await base.migrate();
  const cfg = parseConfigText(
    `node: { name: exec-test }
store: sqlite:./cf.db
http: false
executor: { heartbeat: 200ms, lease: 1s, poll: 1s }
tasks:
  t: { command: ${command} }
schedules:
  - { name: s, ${never}, task: t }`,
    join(dir, 'cronfleet.yaml'),
  );
  node = await startNode(cfg, { log: silentLogger(), store: wrap(base) });
  return { node, file };
}

describe('executor on a real node', () => {
  it('times out a task that ignores TERM, killing its TERM-ignoring child too', async () => {
    const pidFile = join(dir, 'child.pid');
    const n = await start(`
tasks:
  # The trap is installed long before the timeout: the shell starts in milliseconds.
  stubborn: { command: [sh, -c, 'trap "" TERM; sleep 60 & echo $! > ${pidFile}; wait; wait'], timeout: 3s }
schedules:
  - { name: stubborn, ${never}, task: stubborn }`);
    const run = await trigger(n, 'stubborn');
    await waitFor('the child pid file', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const childPid = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(childPid)).toBe(true);
    const done = await final(n, run.id);
    expect(done.status).toBe('timed_out');
    expect(done.reason).toBe('timed out after 3s');
    expect(done.signal).toBe('SIGKILL');
    await waitFor('the child to be gone', () => !alive(childPid), 5_000);
  });

  it('never runs more than executor.concurrency at once, and claims the next as soon as one ends', async () => {
    // No poll to fall back on (the heartbeat wakes the node only when it sweeps a lost run): a
    // finished run's freed room is what starts the rest.
    const n = await start(
      `
tasks:
  nap: { command: [sleep, '0.3'] }
schedules:
  - { name: nap, ${never}, task: nap }`,
      ', concurrency: 2',
      '1h',
    );
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await trigger(n, 'nap')).id);
      await new Promise((r) => setTimeout(r, 3));
    }
    const runs = await Promise.all(ids.map((id) => final(n, id)));
    expect(runs.map((r) => r.status)).toEqual(ids.map(() => 'succeeded'));
    const overlapping = (t: number) => runs.filter((r) => r.startedAt! <= t && t < r.finishedAt!).length;
    expect(Math.max(...runs.map((r) => overlapping(r.startedAt!)))).toBe(2);
  });

  it('starts a burst of due runs in slices, so the event loop (heartbeats, timers) keeps turning', async () => {
    const count = 128;
    const n = await start(
      `
tasks:
  t: { command: [/bin/true] }
schedules:
${Array.from({ length: count }, (_, i) => `  - { name: b${i}, ${never}, task: t }`).join('\n')}`,
      // Forked by the node itself, each start holds the event loop for the fork (through the
      // helper, a start is a pipe write: the burst would hold it for little even in one go).
      `, concurrency: ${count}, spawn: inline`,
      '1h',
    );
    // One fire per schedule, all at the same instant a moment ahead: claimed ahead, started together.
    const at = Math.ceil((n.clock.now() + 1_500) / 1000) * 1000;
    const plans = [];
    for (let i = 0; i < count; i++) {
      const cursor = (await n.store.getSchedule(`b${i}`))!.cursor;
      plans.push({ schedule: `b${i}`, fromCursor: cursor, toCursor: at, fires: [{ scheduledAt: at, notBefore: at }] });
    }
    const created = await n.store.createDueFires(plans, { now: n.clock.now(), nodeTtlMs: 30_000, node: 'test' });
    const ids = created.fires.map((f) => f.runs[0]!.id);
    expect(ids).toHaveLength(count);
    // When the event loop turned, on the node's clock (the one run starts are recorded on).
    const ticks: number[] = [];
    const tick = setInterval(() => ticks.push(n.clock.now()), 5);
    try {
      const runs = await Promise.all(ids.map((id) => final(n, id)));
      expect(runs.map((r) => r.status)).toEqual(ids.map(() => 'succeeded'));
      const starts = runs.map((r) => r.startedAt!);
      const first = Math.min(...starts);
      const last = Math.max(...starts);
      // Longer than one slice: started in one go, the burst would hold the loop for all of it.
      expect(last - first).toBeGreaterThan(60);
      // Sliced, the loop turns between the first start and the last. Counted, not timed: how long
      // a turn waits depends on the machine's load, whether it comes does not.
      expect(ticks.filter((t) => t > first + 1 && t < last - 1).length).toBeGreaterThan(0);
    } finally {
      clearInterval(tick);
    }
  });

  it('invariant 3: a run whose result waits to be written keeps its lease, and is not swept lost meanwhile', async () => {
    // The store takes 2.5 s to record results, two and a half leases.
    const { node: n, file } = await startShortLeases('[/bin/true]', (base) =>
      intercept(base, ['finishRuns'], async (_, call) => {
        await new Promise((r) => setTimeout(r, 2_500));
        return call();
      }),
    );
    const sweeper = await openStore(`sqlite:${file}`);
    try {
      const run = await trigger(n, 's');
      const swept: number[] = [];
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 200));
        swept.push(...(await sweeper.sweepLostRuns(await sweeper.clockNow(), 30_000)).map((r) => r.id));
      }
      expect(swept).toEqual([]);
      expect(await final(n, run.id)).toMatchObject({ status: 'succeeded', exitCode: 0 });
    } finally {
      await sweeper.close();
    }
  });

  it('invariant 3: the registration counts as a beat, so a run taken after it is renewed from the second beat on, not rewritten at the first', async () => {
    const registeredAt: number[] = [];
    const beats: Array<{ now: number; renewBefore?: number; runIds: number[] }> = [];
    const { node: n } = await startShortLeases("[sleep, '1.5']", (base) =>
      intercept(base, ['registerNode', 'heartbeat'], (name, call, args) => {
        if (name === 'registerNode') registeredAt.push(args[1] as number);
        else beats.push(args[0] as { now: number; renewBefore?: number; runIds: number[] });
        return call();
      }),
    );
    const run = await trigger(n, 's');
    await waitFor('three beats carrying the run', () => beats.filter((b) => b.runIds.includes(run.id)).length >= 3);
    expect(registeredAt).toHaveLength(1);
    expect(beats[0]!.renewBefore).toBe(registeredAt[0]! + 1_000 + 1);
    for (let i = 1; i < beats.length; i++) expect(beats[i]!.renewBefore).toBe(beats[i - 1]!.now + 1_000 + 1);
    // The run outlives its first lease (1 s) by half a second: renewed in time, it ends succeeded.
    expect(await final(n, run.id)).toMatchObject({ status: 'succeeded', exitCode: 0 });
  });

  it('forbid: skips a fire while the previous run is still going, never two at once', async () => {
    const n = await start(`
tasks:
  slow: { command: [sleep, '2.5'] }
schedules:
  - { name: slow, cron: "* * * * * *", task: slow, concurrency: forbid }`);
    await waitFor('a skipped fire', async () => (await n.store.listRuns({ schedule: 'slow', status: ['skipped'], limit: 10 })).length >= 2, 20_000);
    const runs = await n.store.listRuns({ schedule: 'slow', limit: 100 });
    const skipped = runs.filter((r) => r.status === 'skipped');
    expect(skipped[0]!.reason).toMatch(/forbid/);
    const executed = runs.filter((r) => r.startedAt !== null).sort((a, b) => a.startedAt! - b.startedAt!);
    for (let i = 1; i < executed.length; i++) {
      const prev = executed[i - 1]!;
      if (prev.finishedAt !== null) expect(executed[i]!.startedAt!).toBeGreaterThanOrEqual(prev.finishedAt);
    }
  });

  it('replace: a new fire stops the run still going and records it cancelled', async () => {
    const n = await start(`
tasks:
  long: { command: [sleep, '30'] }
schedules:
  - { name: long, cron: "* * * * * *", task: long, concurrency: replace }`);
    const replaced = await waitFor('a replaced run', async () => (await n.store.listRuns({ schedule: 'long', status: ['cancelled'], limit: 10 }))[0], 20_000);
    expect(replaced.reason).toMatch(/replace/);
    expect(replaced.signal === 'SIGTERM' || replaced.reason !== null).toBe(true);
    const running = await n.store.listRuns({ schedule: 'long', status: ['running'], limit: 10 });
    expect(running.length).toBeLessThanOrEqual(1);
  });

  it('retries a failing task with doubling backoff, then gives up', async () => {
    const n = await start(`
tasks:
  fail: { command: [sh, -c, 'echo "attempt $CRONFLEET_ATTEMPT" >&2; exit 3'] }
schedules:
  - { name: fail, ${never}, task: fail, retries: { max: 2, backoff: 300ms } }`);
    const first = await trigger(n, 'fail');
    await waitFor('three attempts', async () => {
      const runs = await n.store.listRuns({ schedule: 'fail', limit: 10 });
      return runs.length === 3 && runs.every((r) => r.status === 'failed');
    });
    const runs = (await n.store.listRuns({ schedule: 'fail', limit: 10 })).sort((a, b) => a.attempt - b.attempt);
    expect(runs.map((r) => [r.attempt, r.exitCode, r.reason, r.scheduledAt])).toEqual([
      [1, 3, 'exit status 3', first.scheduledAt],
      [2, 3, 'exit status 3', first.scheduledAt],
      [3, 3, 'exit status 3', first.scheduledAt],
    ]);
    expect(runs[1]!.notBefore - runs[0]!.finishedAt!).toBe(300);
    expect(runs[2]!.notBefore - runs[1]!.finishedAt!).toBe(600);
    expect((await n.store.getRunOutput(runs[2]!.id))!.stderr).toBe('attempt 3\n');
  });

  it('captures 10 MB of output: the full log on disk, the last 256 KiB in the store', async () => {
    const n = await start(`
tasks:
  loud: { command: "head -c 10485760 /dev/zero | tr '\\\\0' x; echo END", shell: true }
schedules:
  - { name: loud, ${never}, task: loud }`);
    const run = await trigger(n, 'loud');
    const done = await final(n, run.id);
    expect(done.status).toBe('succeeded');
    expect(statSync(done.logPath!).size).toBe(10 * 1024 * 1024 + 4);
    const out = (await n.store.getRunOutput(run.id))!;
    expect(out.stdout.length).toBe(256 * 1024);
    expect(out.stdout.endsWith('xxxxEND\n')).toBe(true);
  });

  it('shows output while the run goes on, and stops a running run on cancel', async () => {
    const n = await start(`
tasks:
  talk: { command: [sh, -c, 'echo started; sleep 30'] }
schedules:
  - { name: talk, ${never}, task: talk }`);
    const run = await trigger(n, 'talk');
    await waitFor('output in the store while running', async () => (await n.store.getRunOutput(run.id))?.stdout === 'started\n');
    expect((await n.store.getRun(run.id))!.status).toBe('running');
    await n.store.cancelRun(run.id, 'operator asked', n.clock.now());
    const done = await final(n, run.id);
    expect(done.status).toBe('cancelled');
    expect(done.reason).toBe('operator asked');
  });

  it('invariant 2 on a hurried stop: runs claimed ahead of their instant are recorded cancelled, never dropped', async () => {
    const n = await start(`
scheduler: { lead: 3s }
tasks:
  quick: { builtin: noop }
schedules:
  - { name: quick, cron: "* * * * * *", task: quick }`, ', prefetch: 3s');
    // With fires prepared and claimed up to 3 s ahead, some always wait for their instant.
    await waitFor('runs claimed ahead', async () => (await n.store.listRuns({ schedule: 'quick', status: ['running'], limit: 100 })).some((r) => r.notBefore > n.clock.now() + 600));
    await n.stop(0);
    node = null;
    const runs = await openStore(`sqlite:${join(dir, 'cf.db')}`);
    try {
      const all = await runs.listRuns({ schedule: 'quick', limit: 100 });
      expect(all.filter((r) => r.status === 'running')).toEqual([]);
      const cancelled = all.filter((x) => x.status === 'cancelled');
      expect(cancelled.length).toBeGreaterThan(0);
      for (const r of cancelled) expect(r.reason).toBe('node shutting down before its instant');
      // Every prepared fire has its run: done, cancelled with a reason, or queued for the next node.
      expect(all.every((r) => ['succeeded', 'cancelled', 'queued'].includes(r.status))).toBe(true);
    } finally {
      await runs.close();
    }
  });

  describe('a command run claimed ahead is forked behind a gate', () => {
    const stamped = () => `
scheduler: { lead: 3s }
tasks:
  stamp: { command: [/bin/sh, -c, 'date +%s%3N; echo $CRONFLEET_RUN_ID >> ran.txt', gate-test], cwd: ${dir} }
schedules:
  - { name: stamp, cron: "* * * * * *", task: stamp }`;
    const ran = () => {
      const file = join(dir, 'ran.txt');
      return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    };
    /** A run claimed ahead whose gate waits, and that gate's pid. */
    const heldWithGate = async (n: RunningNode): Promise<{ run: Run; gate: number }> =>
      waitFor('a run claimed ahead with its gate forked', async () => {
        const runs = await n.store.listRuns({ schedule: 'stamp', status: ['running'], limit: 100 });
        for (const run of runs.filter((r) => r.notBefore > n.clock.now() + 600)) {
          const gate = findGate('gate-test', `CRONFLEET_RUN_ID=${run.id}`);
          if (gate !== null) return { run, gate };
        }
        return null;
      });

    it('runs the program in that process at the instant, not before', async () => {
      const n = await start(stamped(), ', prefetch: 3s');
      const { run, gate } = await heldWithGate(n);
      expect(ran()).not.toContain(run.id);
      const done = await final(n, run.id);
      expect(done.status).toBe('succeeded');
      expect(ran()).toContain(run.id);
      // The program read the clock at or after the instant, and the run's start is not before it.
      expect(Number((await n.store.getRunOutput(run.id))!.stdout.trim())).toBeGreaterThanOrEqual(run.notBefore);
      expect(done.startedAt!).toBeGreaterThanOrEqual(run.notBefore);
      expect(isDead(gate)).toBe(true);
    });

    it('a run cancelled before its instant is recorded cancelled, and its gate exits without running it', async () => {
      const n = await start(stamped(), ', prefetch: 3s');
      const { run, gate } = await heldWithGate(n);
      await n.store.cancelRun(run.id, 'operator asked', n.clock.now());
      const done = await final(n, run.id);
      expect(done.status).toBe('cancelled');
      expect(done.reason).toBe('operator asked');
      await waitFor('the gate to exit', async () => isDead(gate));
      expect(ran()).not.toContain(run.id);
    });

    it('on a hurried stop, the gates of runs cancelled before their instant exit without running them', async () => {
      const n = await start(stamped(), ', prefetch: 3s');
      const { gate } = await heldWithGate(n);
      await n.stop(0);
      node = null;
      await waitFor('the gate to exit', async () => isDead(gate));
      const store = await openStore(`sqlite:${join(dir, 'cf.db')}`);
      try {
        const cancelled = (await store.listRuns({ schedule: 'stamp', status: ['cancelled'], limit: 100 })).map((r) => r.id);
        expect(cancelled.length).toBeGreaterThan(0);
        for (const id of cancelled) expect(ran()).not.toContain(id);
        expect(findGate('gate-test')).toBeNull();
      } finally {
        await store.close();
      }
    });
  });

  it('never runs a task that is not in its own config, even if a run for it is queued', async () => {
    const n = await start(`
tasks:
  mine: { builtin: noop }
schedules:
  - { name: theirs, ${never}, task: elsewhere, remoteTask: true }`);
    const run = await trigger(n, 'theirs');
    // No live node offers `elsewhere`: the fire is recorded skipped with the reason, never run here.
    expect(run.status).toBe('skipped');
    expect(run.reason).toMatch(/elsewhere/);
  });
});
