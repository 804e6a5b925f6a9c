import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log/logger.js';
import { ownerOf } from '../../src/scheduler/owner.js';
import { Scheduler, type Peer, type SchedulerOptions } from '../../src/scheduler/scheduler.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import type { NodeInfo, Run, ScheduleSpec } from '../../src/store/types.js';
import { intercept } from '../helpers/intercept.js';
import { nodeInfo, spec as baseSpec } from '../store/fixtures.js';

const SEC = 1000;
const MIN = 60 * SEC;

/** A schedule of `expr`, otherwise the store fixtures' defaults (task `work`). */
function spec(name: string, expr: string, over: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return baseSpec(name, { expr, misfireLimit: 100, ...over });
}

const node: NodeInfo = nodeInfo('n1');

let dir: string;
let stores: Store[];
let schedulers: Scheduler[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-sched-'));
  stores = [];
  schedulers = [];
});

afterEach(async () => {
  for (const s of schedulers) await s.stop();
  for (const s of stores) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function store(): Promise<Store> {
  const s = await openStore(`sqlite:${join(dir, 'cf.db')}`);
  await s.migrate();
  stores.push(s);
  return s;
}

function scheduler(s: Store, clock: ManualClock, name = 'n1', peers?: string[], over: Partial<SchedulerOptions> = {}): Scheduler {
  const sch = new Scheduler({
    store: s,
    clock,
    log: silentLogger(),
    node: name,
    nodeTtlMs: 30 * SEC,
    misfireGraceMs: 30 * SEC,
    refreshMs: 3_600_000,
    ...(peers && { peers: async () => peers.map((name) => ({ name, startedAt: 0 })), takeoverMs: 1000 }),
    ...over,
  });
  schedulers.push(sch);
  return sch;
}

/** A scheduler among `peers` that takes its share 3 s after it started. */
function warmingScheduler(s: Store, clock: ManualClock, name: string, peers: Peer[]): Scheduler {
  return scheduler(s, clock, name, undefined, { warmupMs: 3 * SEC, peers: async () => peers, takeoverMs: 1000 });
}

/**
 * Two schedulers, n1 and n2, each on its own connection to one store file, sharing `count`
 * every-second schedules; both started. `a` is n1's store.
 */
async function pair(clock: ManualClock, count: number, make: (s: Store, name: string) => Scheduler): Promise<{ a: Store; sa: Scheduler; sb: Scheduler }> {
  const a = await store();
  const b = await store();
  await a.registerNode(node, clock.now());
  await a.syncConfigSchedules(Array.from({ length: count }, (_, i) => spec(`s${i}`, '* * * * * *')), clock.now());
  const sa = make(a, 'n1');
  const sb = make(b, 'n2');
  await sa.start();
  await sb.start();
  return { a, sa, sb };
}

/** Moves the manual clock in steps, letting the scheduler finish each pass; keeps the node alive. */
async function advance(clock: ManualClock, s: Store, to: number, step: number, ...sch: Scheduler[]): Promise<void> {
  while (clock.now() < to) {
    clock.advanceTo(Math.min(to, clock.now() + step));
    // Real time does not pass without the event loop turning: a pass begins after a turn.
    await new Promise((resolve) => setImmediate(resolve));
    await s.registerNode(node, clock.now());
    for (const x of sch) await x.settled();
  }
}

async function runsOf(s: Store, schedule: string): Promise<Run[]> {
  return (await s.listRuns({ schedule, limit: 10_000 })).sort((a, b) => a.scheduledAt - b.scheduledAt);
}

/** How many runs each schedule@instant has in the store. */
async function runsPerFire(s: Store): Promise<number[]> {
  const counts = new Map<string, number>();
  for (const r of await s.listRuns({ limit: 10_000 })) counts.set(`${r.schedule}@${r.scheduledAt}`, (counts.get(`${r.schedule}@${r.scheduledAt}`) ?? 0) + 1);
  return [...counts.values()];
}

/**
 * n1 and n2 (both registered) as in `pair`, each saying how far it planned and reading the
 * other's word through the store; each scheduler sees its store through `wrap`.
 */
async function markingPair(
  clock: ManualClock,
  wrap: (s: Store, name: string) => Store,
  over: Partial<SchedulerOptions> = {},
): Promise<{ a: Store; sa: Scheduler; sb: Scheduler }> {
  await (await store()).registerNode(nodeInfo('n2'), clock.now());
  return pair(clock, 20, (s, name) =>
    scheduler(wrap(s, name), clock, name, undefined, {
      ...over,
      takeoverMs: 1000,
      peers: async () => (await s.listNodes()).map((n) => ({ name: n.name, startedAt: 0, planned: n.planned })),
      markPlanned: (mark) => s.markPlanned(name, mark),
    }),
  );
}

describe('Scheduler with an injected clock', () => {
  const T0 = Date.parse('2027-01-10T12:00:00Z');

  it('fires an every-second schedule once per instant, none missing', async () => {
    const clock = new ManualClock(T0);
    const s = await store();
    await s.registerNode(node, clock.now());
    await s.syncConfigSchedules([spec('sec', '* * * * * *')], clock.now());
    const sch = scheduler(s, clock);
    await sch.start();
    await advance(clock, s, T0 + 10 * SEC, 250, sch);
    const runs = await runsOf(s, 'sec');
    expect(runs.map((r) => r.scheduledAt)).toEqual(Array.from({ length: 10 }, (_, i) => T0 + (i + 1) * SEC));
    expect(runs.every((r) => r.status === 'queued' && r.attempt === 1)).toBe(true);
  });

  it("hands the runs its node takes as they are created to the node, never more than the node's room, batches in flight included", async () => {
    const clock = new ManualClock(T0);
    const s = await store();
    await s.registerNode(node, clock.now());
    await s.syncConfigSchedules(Array.from({ length: 7 }, (_, i) => spec(`s${i}`, '* * * * * *')), clock.now());
    // The node has room for 5 runs less what it was handed; batches of 2 plans, 2 at once.
    let held = 0;
    const asked: number[] = [];
    const handed: Run[] = [];
    const sch = scheduler(s, clock, 'n1', undefined, {
      batchSize: 2,
      claim: () => {
        asked.push(5 - held);
        return 5 - held > 0 ? { tasks: ['work'], tags: [], limit: 5 - held, leaseMs: MIN, dueBy: clock.now() + SEC } : null;
      },
      onClaimed: (runs) => {
        held += runs.length;
        handed.push(...runs);
      },
    });
    await sch.start();
    await advance(clock, s, T0 + SEC, SEC, sch);
    expect(handed).toHaveLength(5);
    expect(handed.every((r) => r.status === 'running' && r.node === 'n1' && r.leaseUntil === T0 + SEC + MIN)).toBe(true);
    const stored = (await s.listRuns({ limit: 100 })).filter((r) => r.scheduledAt === T0 + SEC);
    expect(stored.map((r) => r.status).sort()).toEqual(['queued', 'queued', ...Array<string>(5).fill('running')]);
    // The second batch was asked while the first was under way: it got what the first did not reserve.
    expect(asked.slice(0, 2)).toEqual([5, 5]);
  });

  it('arms its timer for the next due instant instead of polling', async () => {
    const clock = new ManualClock(T0);
    const s = await store();
    await s.syncConfigSchedules([spec('hourly', '0 * * * *')], clock.now());
    const sch = scheduler(s, clock);
    await sch.start();
    expect(sch.nextWake()).toBe(T0 + 60 * MIN);
    const before = sch.stats.ticks;
    clock.advance(59 * MIN);
    await sch.settled();
    expect(sch.stats.ticks).toBe(before);
  });

  it('invariant 1: two schedulers on one store create each fire exactly once', async () => {
    const clock = new ManualClock(T0);
    const { a, sa, sb } = await pair(clock, 20, (s, name) => scheduler(s, clock, name));
    await advance(clock, a, T0 + 5 * SEC, 500, sa, sb);
    for (let i = 0; i < 20; i++) {
      const runs = await runsOf(a, `s${i}`);
      expect(runs.map((r) => r.scheduledAt)).toEqual([1, 2, 3, 4, 5].map((k) => T0 + k * SEC));
    }
    expect(sa.stats.stale + sb.stats.stale).toBeGreaterThan(0);
  });

  it('shares the schedules among live schedulers: one attempt per fire, nothing stale', async () => {
    const clock = new ManualClock(T0);
    const { a, sa, sb } = await pair(clock, 40, (s, name) => scheduler(s, clock, name, ['n1', 'n2']));
    await advance(clock, a, T0 + 5 * SEC, 250, sa, sb);
    for (let i = 0; i < 40; i++) {
      expect((await runsOf(a, `s${i}`)).map((r) => r.scheduledAt)).toEqual([1, 2, 3, 4, 5].map((k) => T0 + k * SEC));
    }
    expect(sa.stats.stale + sb.stats.stale).toBe(0);
    expect(sa.stats.plans + sb.stats.plans).toBe(40 * 5);
    // Both did a share of the work.
    expect(sa.stats.fires).toBeGreaterThan(0);
    expect(sb.stats.fires).toBeGreaterThan(0);
  });

  it('a scheduler that joins takes its share once warmed up, at the same moment for all: nothing planned twice', async () => {
    const clock = new ManualClock(T0);
    // n1 has run for long; n2 starts now. Both lists hold both from the first pass.
    const peers = [{ name: 'n1', startedAt: 0 }, { name: 'n2', startedAt: T0 }];
    const { a, sa, sb } = await pair(clock, 40, (s, name) => warmingScheduler(s, clock, name, peers));
    // Warm at T0 + 3 s: until then n1 plans everything.
    await advance(clock, a, T0 + 2_750, 250, sa, sb);
    expect(sb.stats.fires).toBe(0);
    await advance(clock, a, T0 + 8 * SEC, 250, sa, sb);
    expect(sb.stats.fires).toBeGreaterThan(0);
    for (let i = 0; i < 40; i++) {
      expect((await runsOf(a, `s${i}`)).map((r) => r.scheduledAt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((k) => T0 + k * SEC));
    }
    expect(sa.stats.stale + sb.stats.stale).toBe(0);
    expect(sa.stats.plans + sb.stats.plans).toBe(40 * 8);
  });

  it('schedulers that start together leave everything to the oldest until they are warmed up', async () => {
    const clock = new ManualClock(T0);
    const peers = [{ name: 'n1', startedAt: T0 + 5 }, { name: 'n2', startedAt: T0 }];
    const { a, sa, sb } = await pair(clock, 20, (s, name) => warmingScheduler(s, clock, name, peers));
    await advance(clock, a, T0 + 2 * SEC, 250, sa, sb);
    expect([sa.stats.fires, sb.stats.fires]).toEqual([0, 40]);
    await advance(clock, a, T0 + 6 * SEC, 250, sa, sb);
    expect(sa.stats.fires).toBeGreaterThan(0);
    expect(sa.stats.stale + sb.stats.stale + sa.stats.takeovers + sb.stats.takeovers).toBe(0);
    expect((await a.listRuns({ limit: 1000 })).length).toBe(20 * 6);
  });

  it('takes over the share of a scheduler that stopped, one takeover delay after the instant', async () => {
    const clock = new ManualClock(T0);
    const { a, sa, sb } = await pair(clock, 20, (s, name) => scheduler(s, clock, name, ['n1', 'n2']));
    await advance(clock, a, T0 + 2 * SEC, 250, sa, sb);
    await sb.stop();
    await advance(clock, a, T0 + 6 * SEC, 250, sa);
    expect((await runsPerFire(a)).every((n) => n === 1)).toBe(true);
    // Every instant up to 5 s has its fire, whoever owned it; n2's share came from takeovers.
    for (let i = 0; i < 20; i++) {
      const at = (await runsOf(a, `s${i}`)).map((r) => r.scheduledAt);
      expect(at.slice(0, 5)).toEqual([1, 2, 3, 4, 5].map((k) => T0 + k * SEC));
    }
    expect(sa.stats.takeovers).toBeGreaterThan(0);
    expect(sa.stats.stale).toBe(0);
  });

  it("with marks, a scheduler leaves a share its owner says it planned without reading it, and takes over from one that stopped saying so", async () => {
    const clock = new ManualClock(T0);
    const reads: Record<string, number> = { n1: 0, n2: 0 };
    // Each scheduler's store counts the schedule reads its takeover checks make.
    const { a, sa, sb } = await markingPair(clock, (s, name) =>
      intercept(s, ['listSchedules', 'getSchedule'], (_, call) => {
        reads[name]!++;
        return call();
      }),
    );
    await advance(clock, a, T0 + 2 * SEC, 250, sa, sb);
    reads.n1 = 0;
    reads.n2 = 0;
    await advance(clock, a, T0 + 6 * SEC, 250, sa, sb);
    // Both kept saying how far they planned: no schedule was read to check the other's share.
    expect(reads).toEqual({ n1: 0, n2: 0 });
    expect(sa.stats.takeovers + sb.stats.takeovers + sa.stats.stale + sb.stats.stale).toBe(0);
    const marks = new Map((await a.listNodes()).map((n) => [n.name, n.planned]));
    expect(marks.get('n1')).toMatchObject({ through: T0 + 7 * SEC - 1, view: expect.stringMatching(/^n1,n2@\d+$/) as unknown });

    // n2 stops: its mark ages, and one takeover delay after each of its instants n1 plans it.
    await sb.stop();
    await advance(clock, a, T0 + 12 * SEC, 250, sa);
    for (let i = 0; i < 20; i++) {
      const at = (await runsOf(a, `s${i}`)).map((r) => r.scheduledAt);
      expect(at.slice(0, 11)).toEqual(Array.from({ length: 11 }, (_, k) => T0 + (k + 1) * SEC));
    }
    expect(sa.stats.takeovers).toBeGreaterThan(0);
    const late = (await a.listRuns({ limit: 1000 })).filter((r) => r.scheduledAt > T0 + 8 * SEC).map((r) => r.createdAt - r.scheduledAt);
    expect(Math.max(...late)).toBeLessThanOrEqual(1000 + 250);
  });

  it('with a lead as long as the takeover delay, the share of an owner that stopped is planned by its instant, not a takeover delay after it', async () => {
    const clock = new ManualClock(T0);
    const { a, sa, sb } = await markingPair(clock, (s) => s, { leadMs: 1000 });
    await advance(clock, a, T0 + 3 * SEC, 250, sa, sb);
    expect(sa.stats.takeovers + sb.stats.takeovers + sa.stats.stale + sb.stats.stale).toBe(0);
    await sb.stop();
    const stoppedAt = clock.now();
    await advance(clock, a, T0 + 10 * SEC, 250, sa);
    expect((await runsPerFire(a)).every((n) => n === 1)).toBe(true);
    for (let i = 0; i < 20; i++) {
      const at = (await runsOf(a, `s${i}`)).map((r) => r.scheduledAt);
      expect(at.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, k) => T0 + (k + 1) * SEC));
    }
    expect(sa.stats.takeovers).toBeGreaterThan(0);
    // n2 had planned its share up to a lead past its stop; n1 planned the rest, each fire by its instant
    // (a takeover delay after it when the others waited for the instant itself).
    const takenOver = (await a.listRuns({ limit: 1000 })).filter((r) => r.scheduledAt > stoppedAt + 1000 && ownerOf(r.schedule, ['n1', 'n2']) === 'n2');
    expect(takenOver.length).toBeGreaterThan(20);
    expect(Math.max(...takenOver.map((r) => r.createdAt - r.scheduledAt))).toBeLessThanOrEqual(0);
  });

  it('with marks, an owner whose pass is slow says it is at work and is not taken over; once it is through, every fire exists once', async () => {
    const clock = new ManualClock(T0);
    let gate: Promise<void> | null = null;
    let open: () => void = () => undefined;
    // n2's store holds its fire creation while `gate` is set: a pass far slower than the takeover delay.
    const { a, sa, sb } = await markingPair(clock, (s, name) =>
      name === 'n2'
        ? intercept(s, ['createDueFires'], async (_, call) => {
            if (gate) await gate;
            return call();
          })
        : s,
    );
    await advance(clock, a, T0 + 2 * SEC, 250, sa, sb);
    gate = new Promise((resolve) => (open = resolve));
    try {
      await advance(clock, a, T0 + 6 * SEC, 250, sa);
      expect(sa.stats.takeovers + sa.stats.stale).toBe(0);
    } finally {
      // n2 is through: its share catches up (misfire run-once within the grace), nothing twice.
      gate = null;
      open();
    }
    await sb.settled();
    await advance(clock, a, T0 + 8 * SEC, 250, sa, sb);
    expect((await runsPerFire(a)).every((n) => n === 1)).toBe(true);
    for (let i = 0; i < 20; i++) expect((await runsOf(a, `s${i}`)).map((r) => r.scheduledAt).at(-1)).toBe(T0 + 8 * SEC);
  });

  it('misfire policies after a 10-minute outage: every missed instant recorded, the policy decides what runs', async () => {
    const clock = new ManualClock(T0);
    const s = await store();
    await s.registerNode(node, clock.now());
    await s.syncConfigSchedules(
      [
        spec('skip', '* * * * *', { misfire: 'skip' }),
        spec('once', '* * * * *', { misfire: 'run-once' }),
        spec('all', '* * * * *', { misfire: 'run-all', misfireLimit: 3 }),
      ],
      clock.now(),
    );
    const first = scheduler(s, clock);
    await first.start();
    await advance(clock, s, T0 + MIN + SEC, 1000, first);
    await first.stop();
    // Ten minutes with no scheduler running, then a new one starts.
    clock.advanceTo(T0 + 11 * MIN + 45 * SEC);
    await s.registerNode(node, clock.now());
    const second = scheduler(s, clock);
    await second.start();
    second.kick();
    await second.settled();

    const missed = Array.from({ length: 10 }, (_, i) => T0 + (i + 2) * MIN);
    const check = async (name: string, ranAt: number[]) => {
      const runs = await runsOf(s, name);
      expect(runs.map((r) => r.scheduledAt)).toEqual([T0 + MIN, ...missed]);
      const ran = runs.filter((r) => r.status === 'queued').map((r) => r.scheduledAt);
      expect(ran).toEqual([T0 + MIN, ...ranAt]);
      for (const r of runs.filter((x) => x.status === 'skipped')) expect(r.reason).toMatch(/^misfire: missed by/);
    };
    await check('skip', []);
    await check('once', [T0 + 11 * MIN]);
    await check('all', [T0 + 9 * MIN, T0 + 10 * MIN, T0 + 11 * MIN]);
  });

  it('DST through the scheduler: spring-forward gap fires once after it, fall-back repeat fires once', async () => {
    // America/New_York: 2027-03-14 02:00 EST jumps to 03:00 EDT; 2027-11-07 02:00 EDT falls back to 01:00 EST.
    const start = Date.parse('2027-03-13T12:00:00Z');
    const clock = new ManualClock(start);
    const s = await store();
    await s.registerNode(node, clock.now());
    await s.syncConfigSchedules([spec('gap', '30 2 * * *', { timezone: 'America/New_York' })], clock.now());
    const sch = scheduler(s, clock);
    await sch.start();
    await advance(clock, s, Date.parse('2027-03-16T00:00:00Z'), 10 * MIN, sch);
    expect((await runsOf(s, 'gap')).map((r) => new Date(r.scheduledAt).toISOString())).toEqual([
      '2027-03-14T07:00:00.000Z', // 03:00 EDT, the first valid instant after the gap
      '2027-03-15T06:30:00.000Z',
    ]);

    const fallStart = Date.parse('2027-11-06T12:00:00Z');
    const clock2 = new ManualClock(fallStart);
    await s.syncConfigSchedules([spec('repeat', '30 1 * * *', { timezone: 'America/New_York' })], clock2.now());
    const sch2 = scheduler(s, clock2);
    await sch2.start();
    await advance(clock2, s, Date.parse('2027-11-08T12:00:00Z'), 10 * MIN, sch2);
    expect((await runsOf(s, 'repeat')).map((r) => new Date(r.scheduledAt).toISOString())).toEqual([
      '2027-11-07T05:30:00.000Z', // 01:30 EDT, the first of the two 01:30s
      '2027-11-08T06:30:00.000Z',
    ]);
  });

  it('stops firing a paused schedule and does not replay the pause on resume', async () => {
    const clock = new ManualClock(T0);
    const s = await store();
    await s.registerNode(node, clock.now());
    await s.syncConfigSchedules([spec('p', '* * * * * *')], clock.now());
    const sch = scheduler(s, clock);
    await sch.start();
    await advance(clock, s, T0 + 2 * SEC, 500, sch);
    await s.setPaused('p', true, clock.now());
    await sch.reload();
    await advance(clock, s, T0 + 10 * SEC, 500, sch);
    await s.setPaused('p', false, clock.now());
    await sch.reload();
    await advance(clock, s, T0 + 12 * SEC, 500, sch);
    expect((await runsOf(s, 'p')).map((r) => (r.scheduledAt - T0) / SEC)).toEqual([1, 2, 11, 12]);
  });

  it('re-reads all schedules at a refresh only when another process changed one, or once a minute', async () => {
    const clock = new ManualClock(T0);
    const s = await store();
    const other = await store();
    await s.registerNode(node, clock.now());
    await s.syncConfigSchedules([spec('a', '* * * * * *'), spec('b', '* * * * * *')], clock.now());
    let fullReads = 0;
    const counted: Store = Object.assign(Object.create(s) as Store, {
      listSchedules: async () => {
        fullReads++;
        return s.listSchedules();
      },
    });
    const sch = scheduler(counted, clock, 'n1', undefined, { refreshMs: 5 * SEC });
    await sch.start();
    expect(fullReads).toBe(1);
    // Fires move cursors, which is no reason to re-read.
    await advance(clock, s, T0 + 20 * SEC, 500, sch);
    expect(fullReads).toBe(1);
    // Another process pauses `b`: the next refresh sees it, and `b` stops firing.
    await other.setPaused('b', true, clock.now());
    await advance(clock, s, T0 + 30 * SEC, 500, sch);
    expect(fullReads).toBe(2);
    const bAfter = (await runsOf(s, 'b')).filter((r) => r.scheduledAt > T0 + 26 * SEC);
    expect(bAfter).toEqual([]);
    expect((await runsOf(s, 'a')).filter((r) => r.scheduledAt > T0 + 26 * SEC).length).toBe(4);
    // Nothing changes for a minute: one full read all the same.
    await advance(clock, s, T0 + 95 * SEC, 1000, sch);
    expect(fullReads).toBe(3);
  });
});
