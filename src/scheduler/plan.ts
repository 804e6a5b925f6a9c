import { formatDuration } from '../time/duration.js';
import { jitterOffset, type CompiledSchedule } from '../time/index.js';
import type { FirePlan, PlannedFire, Schedule } from '../store/types.js';

export interface PlanInput {
  schedule: Pick<Schedule, 'name' | 'cursor' | 'misfire' | 'misfireLimit' | 'jitterMs'>;
  compiled: CompiledSchedule;
  now: number;
  /**
   * Fire instants up to here (default `now`). A horizon past `now` prepares fires ahead of their
   * instant; their runs become claimable at the instant (notBefore), so the store's work is done
   * before the instant rather than after it.
   */
  horizon?: number;
  /** Instants older than now − grace are misfires, handled by the schedule's policy. */
  misfireGraceMs: number;
  /** Most instants one plan covers; the cursor stops there and the next pass goes on. */
  maxInstants: number;
}

/**
 * One schedule's step from its cursor up to `now`: which instants fire and which are recorded
 * `skipped` (invariant 2: nothing due is silently dropped). Pure.
 *
 * Misfires (instants older than the grace) follow the policy: `skip` records them all skipped,
 * `run-once` runs the latest and records the rest, `run-all` runs the latest `misfireLimit` and
 * records the older ones. On-time instants always fire.
 */
export function planSchedule(input: PlanInput): FirePlan | null {
  const { schedule, compiled, now, misfireGraceMs, maxInstants } = input;
  const horizon = Math.max(now, input.horizon ?? now);
  const cursor = schedule.cursor;
  if (cursor === null) return { schedule: schedule.name, fromCursor: null, toCursor: now, fires: [] };
  const first = compiled.nextAfter(cursor);
  if (first === null || first > horizon) return null;

  const lateBound = now - misfireGraceMs;
  let runFrom = Number.POSITIVE_INFINITY;
  if (first <= lateBound) {
    if (schedule.misfire === 'run-once') {
      runFrom = compiled.previousBefore(lateBound + 1) ?? Number.POSITIVE_INFINITY;
    } else if (schedule.misfire === 'run-all') {
      let t = lateBound + 1;
      for (let k = 0; k < schedule.misfireLimit; k++) {
        const p = compiled.previousBefore(t);
        if (p === null || p <= cursor) break;
        runFrom = p;
        t = p;
      }
    }
  }

  const fires: PlannedFire[] = [];
  let last = cursor;
  for (let t: number | null = first; t !== null && t <= horizon && fires.length < maxInstants; t = compiled.nextAfter(t)) {
    if (t > lateBound || t >= runFrom) {
      fires.push({ scheduledAt: t, notBefore: t + jitterOffset(schedule.name, t, schedule.jitterMs) });
    } else {
      fires.push({
        scheduledAt: t,
        notBefore: t,
        skipReason: `misfire: missed by ${formatDuration(now - t)} (no scheduler was running); policy ${schedule.misfire}`,
      });
    }
    last = t;
  }
  return { schedule: schedule.name, fromCursor: cursor, toCursor: last, fires };
}
