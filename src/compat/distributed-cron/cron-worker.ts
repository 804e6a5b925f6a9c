/**
 * distributed-cron's worker, drop-in: every task of the conf.json `jobs` map is registered with
 * every job server; a job runs the mapped script as argv (no shell) through the executor's
 * startTask, so timeouts, output capture and process-group kills are the node's own.
 */
import * as path from 'node:path';
import { systemClock, type Clock } from '../../clock.js';
import { launcherFor } from '../../executor/launcher.js';
import { startTask } from '../../executor/run-task.js';
import type { TaskResult } from '../../executor/task.js';
import { GearmanWorker, type WorkOutcome, type WorkerEvent, type WorkerJob } from '../../gearman/worker.js';
import type { Syslog } from '../../syslog/index.js';
import { RecentIds } from './recent.js';
import type { RunRecorder } from './recorder.js';
import type { WorkerConf } from './conf.js';

export interface CronWorkerOptions {
  conf: WorkerConf;
  concurrency?: number;
  /** Per-run timeout; null: none. */
  timeoutMs?: number | null;
  killGraceMs?: number;
  /** Each run's full output goes to `<logDir>/<task>.<unique or handle>.log`. */
  logDir?: string;
  /** How long a finished unique id is remembered. */
  dedupeWindowMs?: number;
  clientId?: string;
  /** Receives the debug messages (facility user, level info) when the conf says `debug: true`. */
  syslog?: Syslog | null;
  clock?: Clock;
  /** One line per notable event, for the operator's terminal. */
  log?: (line: string) => void;
  onEvent?: (e: CronWorkerEvent) => void;
  /** Records every job as a run (schedule `gearman:<function>`) so `cronfleet runs` shows it. */
  recorder?: RunRecorder;
}

export type CronWorkerEvent =
  | WorkerEvent
  | { type: 'duplicate'; job: WorkerJob }
  | { type: 'finished'; job: WorkerJob; result: TaskResult };

export const DEFAULT_DEDUPE_WINDOW_MS = 60 * 60_000;
/** Result data sent back in WORK_COMPLETE: enough for a foreground caller to see what happened. */
const RESULT_BYTES = 64 * 1024;

export function describeResult(r: TaskResult): string {
  if (r.error) return `error: ${r.error}`;
  if (r.timedOut) return `timed out${r.signal ? ` (${r.signal})` : ''}`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exit ${r.exitCode}`;
}

/** File name for a run's output: ids come from the network, so only safe characters survive. */
export function logName(job: WorkerJob): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._@:-]/g, '_');
  return `${safe(job.function)}.${safe(job.unique || job.handle)}.log`;
}

export function createCronWorker(opts: CronWorkerOptions): GearmanWorker {
  const clock = opts.clock ?? systemClock;
  const recent = new RecentIds(clock, opts.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS);
  const inFlight = new Set<string>();
  const log = opts.log ?? (() => {});
  const debug = opts.conf.debug && opts.syslog ? opts.syslog : null;
  // Every job is a script: the process launcher's helper is started now, not by the first job.
  const launcher = launcherFor('helper');
  if (Object.keys(opts.conf.jobs).length > 0) launcher.prepare();

  const handler = async (job: WorkerJob): Promise<WorkOutcome> => {
    const script = Object.hasOwn(opts.conf.jobs, job.function) ? opts.conf.jobs[job.function] : undefined;
    if (script === undefined) {
      // Only mapped names are registered, so this means a server sent what we never offered.
      log(`refused ${job.function}: not in the jobs map of ${opts.conf.file}`);
      return { status: 'fail' };
    }
    if (job.unique && (recent.has(job.unique) || inFlight.has(job.unique))) {
      log(`skipped ${job.function} (${job.unique}): already run by this worker`);
      opts.onEvent?.({ type: 'duplicate', job });
      return { status: 'complete', data: `duplicate of ${job.unique}` };
    }
    if (job.unique) inFlight.add(job.unique);
    const startedAt = new Date(clock.now()).toISOString();
    debug?.send('info', `running task ${job.function} at ${startedAt}`);
    const logPath = opts.logDir ? path.join(opts.logDir, logName(job)) : undefined;
    const run = (await opts.recorder?.begin({ function: job.function, timeoutMs: opts.timeoutMs ?? null, ...(logPath && { logPath }) })) ?? null;
    try {
      const handle = startTask(
        { kind: 'command', argv: [script], shell: false },
        {
          launcher,
          ...(logPath && { logPath }),
          ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
          ...(opts.killGraceMs !== undefined ? { killGraceMs: opts.killGraceMs } : {}),
          env: { CRONFLEET_TASK: job.function, CRONFLEET_GEARMAN_HANDLE: job.handle, CRONFLEET_GEARMAN_UNIQUE: job.unique },
        },
      );
      opts.recorder?.attach(run, handle);
      const result = await handle.done;
      const summary = describeResult(result);
      await opts.recorder?.end(run, result, summary);
      log(`${job.function} (${job.unique || job.handle}): ${summary}`);
      debug?.send('info', `task ${job.function} started at ${startedAt} ended: ${summary}`);
      opts.onEvent?.({ type: 'finished', job, result });
      if (result.error) return { status: 'exception', data: summary };
      if (job.unique) recent.add(job.unique);
      if (result.exitCode === 0 && !result.timedOut) {
        return { status: 'complete', data: Buffer.from(result.stdout).subarray(-RESULT_BYTES) };
      }
      return { status: 'fail' };
    } finally {
      if (job.unique) inFlight.delete(job.unique);
    }
  };

  return new GearmanWorker({
    servers: opts.conf.servers,
    functions: Object.keys(opts.conf.jobs),
    handler,
    concurrency: opts.concurrency ?? 1,
    ...(opts.clientId ? { clientId: opts.clientId } : {}),
    onEvent: (e) => {
      if (e.type === 'connected') log(`connected to ${e.server}`);
      if (e.type === 'disconnected') log(`lost ${e.server}${e.error ? ` (${e.error})` : ''}; retrying in ${e.retryInMs} ms`);
      opts.onEvent?.(e);
    },
  });
}
