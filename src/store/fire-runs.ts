import type { FireSchedule } from './rows.js';
import { newRun, type NewRun } from './retry.js';
import type { FireClaim, FireOptions } from './types.js';

/** A fire that was just created (its key was free), waiting for its runs. */
export interface NewFire {
  schedule: FireSchedule;
  scheduledAt: number;
  notBefore: number;
  skipReason?: string;
  manual: boolean;
}

/** A run of one of the fires' schedules that is queued or running in the store. */
export interface ActiveRun {
  id: number;
  schedule: string;
  status: 'queued' | 'running';
}

export interface NodeLiveness {
  name: string;
  tasks: string[];
  tags: string[];
  heartbeatAt: number;
  draining: boolean;
}

export interface RunChange {
  id: number;
  reason: string;
}

export interface RunsForFires {
  /** Runs to insert; `fire` is the index of the fire in the input. */
  runs: Array<{ fire: number; run: NewRun }>;
  /** Queued runs to cancel now (`replace`). */
  cancelQueued: RunChange[];
  /** Running runs whose owner must stop them (`replace`). */
  requestCancel: RunChange[];
}

/** A node counts for targeting while it heartbeats within the TTL and is not draining. */
export function isLive(n: NodeLiveness, now: number, nodeTtlMs: number): boolean {
  return !n.draining && n.heartbeatAt >= now - nodeTtlMs;
}

/** FireOptions, with the creating node optional (a pure caller may judge fires for nobody in particular). */
export type FireRunOptions = Omit<FireOptions, 'node'> & { node?: string };

/**
 * Decides the runs of new fires from the schedules' target and concurrency policy. Pure, so both
 * stores apply the same rules: they only load `active` and `nodes` and write the result.
 * Fires are handled in input order, so a fire sees the runs queued by earlier fires of the batch.
 */
export function planFireRuns(fires: NewFire[], active: ActiveRun[], nodes: NodeLiveness[], opts: FireRunOptions): RunsForFires {
  const { now, nodeTtlMs, node: creator } = opts;
  // The node creating the fires is alive at this instant whatever its last heartbeat says: after
  // the store was out of reach, its first pass may come before its first heartbeat, and judging
  // it by the old one skipped fires as if no node offered their task.
  const live = nodes.filter((n) => (n.name === creator && !n.draining) || isLive(n, now, nodeTtlMs));
  const out: RunsForFires = { runs: [], cancelQueued: [], requestCancel: [] };
  // Active runs per schedule: stored ones by id, ones made in this batch by their entry in `out.runs`.
  // Only `forbid` and `replace` look at them: an `allow` fire (nearly all of a busy node's) adds nothing.
  const activeBySchedule = new Map<string, Array<ActiveRun | { batch: NewRun; at: number }>>();
  for (const a of active) {
    const list = activeBySchedule.get(a.schedule) ?? [];
    list.push(a);
    activeBySchedule.set(a.schedule, list);
  }
  // The live nodes offering a task (with a tag), worked out once per batch rather than per fire.
  const offeringByTask = new Map<string, Map<string | null, NodeLiveness[]>>();
  const offeringOf = (task: string, tag: string | null): NodeLiveness[] => {
    let byTag = offeringByTask.get(task);
    if (!byTag) offeringByTask.set(task, (byTag = new Map()));
    let found = byTag.get(tag);
    if (!found) byTag.set(tag, (found = live.filter((n) => n.tasks.includes(task) && (tag === null || n.tags.includes(tag)))));
    return found;
  };

  for (let index = 0; index < fires.length; index++) {
    const f = fires[index]!;
    const s = f.schedule;
    const tag = s.target.kind === 'tag' ? s.target.tag : null;
    const base: NewRun = newRun({
      schedule: s.name,
      task: s.task,
      scheduledAt: f.scheduledAt,
      attempt: 1,
      status: 'queued',
      targetTag: tag,
      notBefore: f.notBefore,
      createdAt: now,
      timeoutMs: s.timeoutMs,
      manual: f.manual,
    });
    let skipReason = f.skipReason;
    const offering = skipReason === undefined ? offeringOf(s.task, tag) : [];
    if (skipReason === undefined && offering.length === 0) {
      skipReason = `no live node${tag === null ? '' : ` with tag "${tag}"`} offers task "${s.task}"`;
    }
    const current = s.concurrency === 'allow' ? null : (activeBySchedule.get(s.name) ?? []);
    if (skipReason === undefined && current && current.length > 0 && s.concurrency === 'forbid') {
      const first = current[0]!;
      const what = 'id' in first ? `run ${first.id} is still ${first.status}` : `the run of the fire at ${iso(first.batch.scheduledAt)} is still queued`;
      skipReason = `concurrency forbid: ${what}`;
    }
    if (skipReason !== undefined) {
      base.status = 'skipped';
      base.finishedAt = now;
      base.reason = skipReason;
      out.runs.push({ fire: index, run: base });
      continue;
    }
    if (current && current.length > 0 && s.concurrency === 'replace') {
      const reason = `replaced by the fire at ${iso(f.scheduledAt)} (concurrency replace)`;
      for (const a of current) {
        if ('id' in a) {
          (a.status === 'queued' ? out.cancelQueued : out.requestCancel).push({ id: a.id, reason });
        } else {
          a.batch.status = 'cancelled';
          a.batch.finishedAt = now;
          a.batch.reason = reason;
        }
      }
      current.length = 0;
    }

    const targets = s.target.kind === 'all' ? offering.map((n) => n.name) : [null];
    for (const targetNode of targets) {
      const run: NewRun = targets.length === 1 ? base : { ...base };
      run.targetNode = targetNode;
      out.runs.push({ fire: index, run });
      current?.push({ batch: run, at: index });
    }
    if (current) activeBySchedule.set(s.name, current);
  }
  if (opts.claim && creator !== undefined) claimOwnRuns(out.runs, creator, opts.claim, now);
  return out;
}

/**
 * The creator takes the queued runs it would be handed by a claim at `now` (ClaimRequest's
 * rules: its task, meant for it, its tag or anyone, due by `dueBy`), in order, up to the limit.
 */
function claimOwnRuns(runs: RunsForFires['runs'], creator: string, claim: FireClaim, now: number): void {
  const tasks = new Set(claim.tasks);
  let left = claim.limit;
  for (const { run } of runs) {
    if (left <= 0) return;
    if (run.status !== 'queued' || !tasks.has(run.task) || run.notBefore > claim.dueBy) continue;
    if ((run.targetNode !== null && run.targetNode !== creator) || (run.targetTag !== null && !claim.tags.includes(run.targetTag))) continue;
    run.status = 'running';
    run.node = creator;
    run.startedAt = now;
    run.leaseUntil = now + claim.leaseMs;
    left--;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A fire that has no run for the node that created it (see Run.deferred), with its schedule as fires see it. */
export interface UnwrittenFire {
  schedule: FireSchedule;
  scheduledAt: number;
  manual: boolean;
  createdAt: number;
}

/**
 * The run of such a fire, for `node`: `lost` (it may have run before the node died) or `queued`
 * again for any node (it never started). An `all` fire's run stays the node's own.
 */
export function unwrittenFireRun(f: UnwrittenFire, node: string, status: 'lost' | 'queued', now: number, reason: string | null): NewRun {
  const { target } = f.schedule;
  return newRun({
    schedule: f.schedule.name,
    task: f.schedule.task,
    scheduledAt: f.scheduledAt,
    attempt: 1,
    status,
    targetNode: target.kind === 'all' ? node : null,
    targetTag: target.kind === 'tag' ? target.tag : null,
    node: status === 'lost' ? node : null,
    notBefore: status === 'lost' ? f.scheduledAt : now,
    createdAt: f.createdAt,
    finishedAt: status === 'lost' ? now : null,
    reason,
    timeoutMs: f.schedule.timeoutMs,
    manual: f.manual,
  });
}
