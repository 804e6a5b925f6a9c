import { describe, expect, it } from 'vitest';
import { planSchedule } from '../../src/scheduler/plan.js';
import { compileSchedule } from '../../src/time/index.js';

const MIN = 60_000;
const T0 = Date.parse('2027-01-10T12:00:00Z');
const everyMinute = compileSchedule('* * * * *', { timezone: 'UTC', name: 'm' });

function plan(over: { cursor: number | null; now: number; misfire?: 'skip' | 'run-once' | 'run-all'; misfireLimit?: number; maxInstants?: number; jitterMs?: number }) {
  return planSchedule({
    schedule: { name: 'm', cursor: over.cursor, misfire: over.misfire ?? 'run-once', misfireLimit: over.misfireLimit ?? 100, jitterMs: over.jitterMs ?? 0 },
    compiled: everyMinute,
    now: over.now,
    misfireGraceMs: 30_000,
    maxInstants: over.maxInstants ?? 1000,
  });
}

const ran = (p: ReturnType<typeof plan>) => p!.fires.filter((f) => !f.skipReason).map((f) => f.scheduledAt);
const skipped = (p: ReturnType<typeof plan>) => p!.fires.filter((f) => f.skipReason).map((f) => f.scheduledAt);

describe('planSchedule', () => {
  it('starts a new schedule at now without firing the past', () => {
    expect(plan({ cursor: null, now: T0 })).toEqual({ schedule: 'm', fromCursor: null, toCursor: T0, fires: [] });
  });

  it('returns nothing before the next instant', () => {
    expect(plan({ cursor: T0, now: T0 + MIN - 1 })).toBeNull();
  });

  it('fires an instant that is due, moving the cursor to it', () => {
    const p = plan({ cursor: T0, now: T0 + MIN + 5 });
    expect(ran(p)).toEqual([T0 + MIN]);
    expect(p!.toCursor).toBe(T0 + MIN);
    expect(p!.fromCursor).toBe(T0);
  });

  it('fires late instants within the grace as on time, whatever the policy', () => {
    const p = plan({ cursor: T0, now: T0 + MIN + 25_000, misfire: 'skip' });
    expect(ran(p)).toEqual([T0 + MIN]);
  });

  it('misfire skip: after a 10-minute outage every missed instant is recorded skipped', () => {
    const p = plan({ cursor: T0, now: T0 + 10 * MIN + 10_000, misfire: 'skip' });
    // T0+10min is 10 s old: within the grace, so it runs; the nine before are misfires.
    expect(skipped(p)).toEqual(Array.from({ length: 9 }, (_, i) => T0 + (i + 1) * MIN));
    expect(ran(p)).toEqual([T0 + 10 * MIN]);
    expect(p!.fires[0]!.skipReason).toMatch(/misfire: missed by 9m.*policy skip/);
  });

  it('misfire run-once: the latest missed instant runs, the older ones are recorded skipped', () => {
    const p = plan({ cursor: T0, now: T0 + 10 * MIN + 40_000, misfire: 'run-once' });
    expect(ran(p)).toEqual([T0 + 10 * MIN]);
    expect(skipped(p)).toHaveLength(9);
    expect(p!.toCursor).toBe(T0 + 10 * MIN);
  });

  it('misfire run-all: the latest `limit` missed instants run, older ones are recorded skipped', () => {
    const p = plan({ cursor: T0, now: T0 + 10 * MIN + 40_000, misfire: 'run-all', misfireLimit: 3 });
    expect(ran(p)).toEqual([T0 + 8 * MIN, T0 + 9 * MIN, T0 + 10 * MIN]);
    expect(skipped(p)).toEqual(Array.from({ length: 7 }, (_, i) => T0 + (i + 1) * MIN));
  });

  it('bounds one plan to maxInstants and leaves the cursor where it stopped', () => {
    const p = plan({ cursor: T0, now: T0 + 10 * MIN + 40_000, misfire: 'run-once', maxInstants: 4 });
    expect(p!.fires.map((f) => f.scheduledAt)).toEqual([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]);
    expect(p!.fires.every((f) => f.skipReason)).toBe(true);
    expect(p!.toCursor).toBe(T0 + 4 * MIN);
    // The next pass goes on from there and still runs the latest missed instant.
    const rest = plan({ cursor: p!.toCursor, now: T0 + 10 * MIN + 40_000, misfire: 'run-once', maxInstants: 4 });
    expect(rest!.fires.map((f) => f.scheduledAt)).toEqual([T0 + 5 * MIN, T0 + 6 * MIN, T0 + 7 * MIN, T0 + 8 * MIN]);
  });

  it('delays notBefore by a stable jitter below the limit', () => {
    const a = plan({ cursor: T0, now: T0 + MIN, jitterMs: 30_000 });
    const b = plan({ cursor: T0, now: T0 + MIN, jitterMs: 30_000 });
    const f = a!.fires[0]!;
    expect(f.notBefore).toBe(b!.fires[0]!.notBefore);
    expect(f.notBefore - f.scheduledAt).toBeGreaterThanOrEqual(0);
    expect(f.notBefore - f.scheduledAt).toBeLessThan(30_000);
  });
});
