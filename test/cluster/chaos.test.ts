import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { Run } from '../../src/store/types.js';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Three nodes on one PostgreSQL database, 50 every-second schedules whose tasks take 0-3 s, one
 * node killed with SIGKILL every few seconds and restarted under the same name, and once every
 * connection of the nodes cut. Invariants 1-3 must hold across all of it.
 */

const NODES = ['chaos-a', 'chaos-b', 'chaos-c'];
const SCHEDULES = 50;
const LEASE_MS = 3_000;
const HEARTBEAT_MS = 500;
const RETRIES = 2;
const CHAOS_MS = 60_000;
const KILL_EVERY_MS = 6_000;
/**
 * How late past the end of its lease a killed run may be swept: the sweeping node's next
 * heartbeat (500 ms) plus room for a machine busy with other tests.
 */
const SWEEP_SLACK_MS = HEARTBEAT_MS + 4_500;
/** Test process and nodes share the host's clock; the nodes' store offset is a few ms at most. */
const CLOCK_SLACK_MS = 250;

/** 0, 0.5, ..., 3 s: every schedule's task takes its own time, some longer than the kill spacing allows. */
const taskSeconds = (i: number) => (i % 7) * 0.5;

interface Kill {
  node: string;
  at: number;
  /** When it came back; null while it is down. */
  restartedAt: number | null;
  /** Its runs still `running` in the store right after it died. */
  running: Run[];
}

let cluster: Cluster;
let store: Store;

beforeAll(async () => {
  cluster = await Cluster.create('cf_chaos');
  const tasks: Record<string, unknown> = {};
  const schedules: unknown[] = [];
  for (let i = 0; i < SCHEDULES; i++) {
    tasks[`t${i}`] = { command: ['sleep', String(taskSeconds(i))] };
    schedules.push({ name: `s${i}`, cron: '* * * * * *', task: `t${i}`, retries: { max: RETRIES, backoff: '500ms' } });
  }
  for (const name of NODES) {
    cluster.define(name, {
      tasks,
      schedules,
      // The final stop's grace outlasts the longest task, so a graceful stop cancels nothing.
      executor: { heartbeat: `${HEARTBEAT_MS}ms`, lease: `${LEASE_MS}ms`, shutdownGrace: '10s', killGrace: '1s' },
      // As long as a lease: a killed node's runs are swept when their leases or its heartbeats end.
      cluster: { nodeTtl: `${LEASE_MS}ms` },
    });
  }
  store = await cluster.openStore();
});

afterAll(async () => {
  await cluster?.destroy();
});

function expectAllAlive(): void {
  for (const name of NODES) {
    const p = cluster.proc(name);
    // This process's own output, 150 lines of it: a crash's cause comes before the traces of
    // what died with it (its launcher helper writes to the same stderr).
    const tail = p.log().split('\n').slice(-150).join('\n');
    expect(p.exitCode === null && p.signalCode === null, `${name} exited by itself (${p.exitCode}):\n${tail}`).toBe(true);
  }
}

const key = (r: Pick<Run, 'schedule' | 'scheduledAt'>) => `${r.schedule}@${r.scheduledAt}`;

/** The nodes' warnings about late or slow heartbeats, for a failure about leases. */
function lateBeats(): string {
  return NODES.map((n) => `${n}: ${cluster.logs(n).split('\n').filter((l) => l.includes('heartbeat came late')).slice(-10).join('\n')}`).join('\n');
}
const iso = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/**
 * When the store could first have swept a lost run, from the reason it recorded: the end of its
 * lease, or its node's last heartbeat plus the node TTL for a run swept because the node died.
 */
function sweepableAt(r: Run): number | null {
  const lease = /^lease expired at (\S+): /.exec(r.reason ?? '');
  if (lease) return Date.parse(lease[1]!);
  const dead = /is dead: no heartbeat since (\S+) \(node TTL (\d+) ms\)$/.exec(r.reason ?? '');
  return dead ? Date.parse(dead[1]!) + Number(dead[2]) : null;
}

/**
 * Whether a lost run is one a kill explains: its node was that victim, and either its lease ran
 * out, or its node's heartbeat grew older than the node TTL, within LEASE_MS (= the TTL) after
 * the kill (renewed until the node died, swept only after that), or the node's restart found it
 * still `running`.
 */
function explainedBy(r: Run, k: Kill): boolean {
  if (r.node !== k.node) return false;
  const at = sweepableAt(r);
  if (at !== null) {
    return at >= k.at - CLOCK_SLACK_MS && at <= k.at + LEASE_MS + CLOCK_SLACK_MS && r.finishedAt! >= at;
  }
  return /restarted while the run was running/.test(r.reason ?? '') && r.finishedAt! >= k.at && (k.restartedAt === null || r.finishedAt! <= k.restartedAt + CLOCK_SLACK_MS);
}

describe('a three-node cluster under kill -9 and a PostgreSQL outage', () => {
  it('fires every instant once, loses only the killed nodes\' runs, retries them and leaves nothing running', async () => {
    await cluster.startAll(NODES);
    await waitFor('the first fires to run', async () => (await store.listRuns({ status: ['succeeded'], limit: 60 })).length >= 50, 30_000);

    const listed = cluster.cli(NODES[0]!, ['nodes', '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    const nodes = JSON.parse(listed.stdout) as Array<{ name: string; state: string; tasks: string[] }>;
    expect(nodes.map((n) => [n.name, n.state, n.tasks.length])).toEqual(NODES.map((n) => [n, 'alive', SCHEDULES]));

    const chaosStart = Date.now();
    const kills: Kill[] = [];
    let cut = 0;
    let cutAt = 0;
    for (let k = 0; Date.now() - chaosStart < CHAOS_MS; k++) {
      const victim = NODES[k % NODES.length]!;
      // Only the victims die: a node that exits by itself (after the outage, say) is a failure.
      expectAllAlive();
      await cluster.kill9(victim);
      const kill: Kill = { node: victim, at: Date.now(), restartedAt: null, running: [] };
      kill.running = await store.listRuns({ node: victim, status: ['running'], limit: 10_000 });
      kills.push(kill);
      if (k % 2 === 1) {
        // Down past its lease and the node TTL: the live nodes sweep its runs, and the cluster
        // view says it is dead, before it comes back.
        await waitFor(
          `${victim} to be listed dead`,
          () => {
            const r = cluster.cli(NODES[(k + 1) % NODES.length]!, ['nodes', '--json']);
            return (JSON.parse(r.stdout) as Array<{ name: string; state: string }>).find((n) => n.name === victim)?.state === 'dead';
          },
          15_000,
          250,
        );
      } else {
        // Back at once: the restart itself marks its runs lost.
        await new Promise((r) => setTimeout(r, 1_000));
      }
      await cluster.start(victim);
      kill.restartedAt = Date.now();
      if (k === 4) {
        // Every node loses every connection at once, mid-run.
        cutAt = Date.now();
        cut = await cluster.cutConnections();
      }
      const next = kill.at + KILL_EVERY_MS;
      if (next > Date.now()) await new Promise((r) => setTimeout(r, next - Date.now()));
    }
    const chaosEnd = Date.now();
    expectAllAlive();
    expect(kills.length).toBeGreaterThanOrEqual(8);
    // Three nodes' pools and listeners were connected.
    expect(cut).toBeGreaterThanOrEqual(NODES.length);

    // Fires keep coming after the chaos, from every node.
    await waitFor('fires after the chaos', async () => (await store.listRuns({ status: ['succeeded'], from: chaosEnd + 1_000, limit: 100 })).length >= 100, 30_000);

    // Pause the schedules so no fire prepared ahead is left queued, let what is queued (retries
    // in their backoff too) be claimed, then stop every node gracefully at once.
    for (let i = 0; i < SCHEDULES; i++) await store.setPaused(`s${i}`, true, await store.clockNow());
    await waitFor('every queued run to be claimed', async () => (await store.listRuns({ status: ['queued'], limit: 1 })).length === 0, 30_000);
    // A lease that runs out after this (a run of the last victim, say) still brings a retry, queued
    // until someone claims it: give the sweeps one lease and their slack, and let those be claimed too.
    await new Promise((r) => setTimeout(r, LEASE_MS + SWEEP_SLACK_MS));
    await waitFor('the retries of late sweeps to be claimed', async () => (await store.listRuns({ status: ['queued'], limit: 1 })).length === 0, 30_000);
    const codes = await Promise.all(NODES.map((n) => cluster.stop(n)));
    expect(codes).toEqual(NODES.map(() => 0));

    const runs = (await store.listRuns({ limit: 1_000_000 })).sort((a, b) => a.id - b.id);

    // Nothing left running or queued, and no other outcome than success or loss: nothing failed,
    // nothing was cancelled by the graceful stop, no instant was skipped.
    const left = runs.filter((r) => r.status === 'running' || r.status === 'queued');
    const leftDetail = left.map((r) => `${key(r)} ${r.status} node=${r.node} created=${iso(r.createdAt)} notBefore=${iso(r.notBefore)} started=${r.startedAt && iso(r.startedAt)} lease=${r.leaseUntil && iso(r.leaseUntil)}`);
    const stopLogs = NODES.map((n) => `${n}:\n${cluster.logs(n).split('\n').slice(-15).join('\n')}`).join('\n');
    expect(left.map(key), `left running or queued (paused and stopped at ${iso(Date.now())}):\n${leftDetail.join('\n')}\n${stopLogs}`).toEqual([]);
    const statuses = new Set(runs.map((r) => r.status));
    const odd = runs.filter((r) => r.status !== 'lost' && r.status !== 'succeeded').map((r) => `${key(r)} ${r.status} at ${iso(r.createdAt)}: ${r.reason}`);
    expect([...statuses].sort(), odd.slice(0, 20).join('\n')).toEqual(statuses.has('lost') ? ['lost', 'succeeded'] : ['succeeded']);

    // Invariant 1: one first attempt per (schedule, instant), every instant from the first to the last.
    for (let i = 0; i < SCHEDULES; i++) {
      const mine = runs.filter((r) => r.schedule === `s${i}`);
      const firsts = mine.filter((r) => r.attempt === 1).map((r) => r.scheduledAt).sort((a, b) => a - b);
      expect(new Set(firsts).size, `s${i}: an instant fired twice`).toBe(firsts.length);
      const gaps = firsts.slice(1).filter((t, j) => t - firsts[j]! !== 1_000);
      expect(gaps.map((t) => new Date(t).toISOString()), `s${i}: instants missing before these`).toEqual([]);
      expect(firsts[0]!).toBeLessThan(chaosStart);
      expect(firsts.at(-1)!).toBeGreaterThan(chaosEnd);
      // Every retry belongs to a fire that exists.
      const fired = new Set(firsts);
      expect(mine.filter((r) => r.attempt > 1 && !fired.has(r.scheduledAt)).map(key)).toEqual([]);
    }

    // At most one success per fire; exactly one unless every attempt was lost.
    const byFire = new Map<string, Run[]>();
    for (const r of runs) byFire.set(key(r), [...(byFire.get(key(r)) ?? []), r]);
    const doubled = [...byFire].filter(([, rs]) => rs.filter((r) => r.status === 'succeeded').length > 1).map(([k]) => k);
    expect(doubled).toEqual([]);
    const unfinished = [...byFire].filter(([, rs]) => !rs.some((r) => r.status === 'succeeded') && !rs.some((r) => r.attempt === RETRIES + 1 && r.status === 'lost'));
    expect(unfinished.map(([k, rs]) => `${k}: ${rs.map((r) => `#${r.attempt} ${r.status}`).join(', ')}`)).toEqual([]);

    // Invariant 3: every run a killed node held is lost once its lease runs out (or its node is
    // dead) and retried, unless that was its last attempt. Judged by the lease or heartbeat the
    // store recorded, not by how soon a busy machine got round to sweeping it: it must have ended
    // within LEASE_MS of the kill (the node renewed it until it died), and the sweep must come
    // after that, never before.
    const byId = new Map(runs.map((r) => [r.id, r]));
    const timeline = () =>
      `kills: ${kills.map((k) => `${k.node}@${iso(k.at)}..${k.restartedAt ? iso(k.restartedAt) : '?'}`).join(', ')}; cut after ${cutAt ? iso(cutAt) : '?'}`;
    let checked = 0;
    let sweepDelayMax = 0;
    for (const kill of kills) {
      for (const held of kill.running) {
        const now = byId.get(held.id)!;
        // A result sent just before the kill may commit after the snapshot was read: it was
        // recorded as of before the kill, and is no loss.
        if (now.status === 'succeeded' && now.node === kill.node && now.finishedAt! <= kill.at) continue;
        expect(now.status, `run ${held.id} of killed ${kill.node}: finished ${now.finishedAt! - kill.at} ms after the kill`).toBe('lost');
        expect(explainedBy(now, kill), `run ${held.id} of ${kill.node} killed at ${iso(kill.at)}: ${now.reason} at ${iso(now.finishedAt!)}\n${lateBeats()}`).toBe(true);
        const at = sweepableAt(now);
        if (at !== null) sweepDelayMax = Math.max(sweepDelayMax, now.finishedAt! - at);
        if (held.attempt <= RETRIES) {
          const retry = runs.find((r) => r.schedule === held.schedule && r.scheduledAt === held.scheduledAt && r.attempt === held.attempt + 1);
          expect(retry, `retry of run ${held.id}`).toBeDefined();
          expect(retry!.node === null || retry!.startedAt! >= now.finishedAt!).toBe(true);
        }
        checked++;
      }
    }
    // Tasks of up to 3 s every second: each kill catches runs mid-flight.
    expect(checked).toBeGreaterThanOrEqual(kills.length * 5);
    // Swept by a live node's next heartbeat once the lease ran out or the node was found dead; the
    // bound is loose because only a stalled sweeper, not a busy machine, should break it.
    expect(sweepDelayMax, timeline()).toBeLessThanOrEqual(SWEEP_SLACK_MS);

    // And nothing else was lost: a live node's runs keep their leases through the outage.
    const unexplained = runs.filter((r) => r.status === 'lost' && !kills.some((k) => explainedBy(r, k)));
    expect(unexplained.map((r) => `${r.id} ${r.node} ${r.reason} (swept ${iso(r.finishedAt!)})`), `${timeline()}\n${lateBeats()}`).toEqual([]);
  }, 180_000);
});
