import type { ExternalRunRequest, Run, Schedule } from './types.js';

/** A run to insert: every field of Run but the id the store assigns. */
export type NewRun = Omit<Run, 'id'>;

type RunIdentity = Pick<NewRun, 'schedule' | 'task' | 'scheduledAt' | 'attempt' | 'status' | 'notBefore' | 'createdAt' | 'timeoutMs' | 'manual'>;

/** A new run row: the identity given, everything that happens later still empty. */
export function newRun(identity: RunIdentity & Partial<NewRun>): NewRun {
  return {
    targetNode: null,
    targetTag: null,
    node: null,
    startedAt: null,
    finishedAt: null,
    leaseUntil: null,
    exitCode: null,
    signal: null,
    reason: null,
    cancelRequested: false,
    logPath: null,
    ...identity,
  };
}

/** The delay before attempt n+1 (n = the attempt that just ended): backoffMs × 2^(n-1). */
export function retryDelayMs(backoffMs: number, attempt: number): number {
  return backoffMs * 2 ** (attempt - 1);
}

/**
 * The next attempt of a run that ended `failed`, `timed_out` or `lost`, or null when the
 * schedule allows no more (or is gone). A run someone asked to stop is not retried.
 */
export function retryOf(run: Run, schedule: Pick<Schedule, 'retries'> | null, now: number): NewRun | null {
  if (!schedule || run.cancelRequested || run.attempt > schedule.retries.max) return null;
  return newRun({
    schedule: run.schedule,
    task: run.task,
    scheduledAt: run.scheduledAt,
    attempt: run.attempt + 1,
    status: 'queued',
    targetNode: run.targetNode,
    targetTag: run.targetTag,
    notBefore: now + retryDelayMs(schedule.retries.backoffMs, run.attempt),
    createdAt: now,
    timeoutMs: run.timeoutMs,
    manual: run.manual,
  });
}

/** Column order used by both stores to insert a NewRun. */
export const NEW_RUN_COLUMNS =
  'schedule, task, scheduled_at, attempt, status, target_node, target_tag, node, not_before, created_at, ' +
  'started_at, finished_at, lease_until, exit_code, signal, reason, timeout_ms, cancel_requested, log_path, manual';

export function newRunValues(r: NewRun): Array<string | number | boolean | null> {
  return [
    r.schedule,
    r.task,
    r.scheduledAt,
    r.attempt,
    r.status,
    r.targetNode,
    r.targetTag,
    r.node,
    r.notBefore,
    r.createdAt,
    r.startedAt,
    r.finishedAt,
    r.leaseUntil,
    r.exitCode,
    r.signal,
    r.reason,
    r.timeoutMs,
    r.cancelRequested,
    r.logPath,
    r.manual,
  ];
}

/** The row of a run started outside any fire (see Store.startExternalRun). */
export function externalRun(req: ExternalRunRequest): NewRun {
  return newRun({
    schedule: req.schedule,
    task: req.task,
    scheduledAt: req.scheduledAt,
    attempt: 1,
    status: 'running',
    node: req.node,
    notBefore: req.scheduledAt,
    createdAt: req.now,
    startedAt: req.now,
    leaseUntil: req.now + req.leaseMs,
    timeoutMs: req.timeoutMs,
    manual: false,
  });
}
