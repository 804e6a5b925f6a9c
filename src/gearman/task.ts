/**
 * The `gearman` task kind: a cronfleet schedule feeding an existing gearman fleet. The job's
 * unique id is built from the fire's function and instant (as `cronfleet submit` builds it), so
 * a native schedule and a distributed-cron client firing the same minute coalesce.
 */
import { createHash } from 'node:crypto';
import { effectiveTimeout } from '../executor/result.js';
import type { GearmanTask, TaskHandle, TaskResult, TaskStartOptions } from '../executor/task.js';
import { GearmanClient, MAX_UNIQUE_BYTES, type JobResult } from './client.js';

const pad = (n: number) => String(n).padStart(2, '0');

/** `fn@2026-11-23T10:05Z` for a fire on a minute, full ISO time otherwise; `#n` for retries. */
export function gearmanUnique(fn: string, env: Record<string, string> | undefined): string | undefined {
  const at = env?.CRONFLEET_SCHEDULED_AT ? new Date(env.CRONFLEET_SCHEDULED_AT) : null;
  if (!at || Number.isNaN(at.getTime())) return undefined;
  const onMinute = at.getTime() % 60_000 === 0;
  const when = onMinute
    ? `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}T${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}Z`
    : at.toISOString();
  const attempt = Number(env?.CRONFLEET_ATTEMPT ?? '1');
  const id = `${fn}@${when}${attempt > 1 ? `#${attempt}` : ''}`;
  // Long function names would exceed gearmand's limit; a digest keeps the id stable and unique.
  return Buffer.byteLength(id) <= MAX_UNIQUE_BYTES ? id : createHash('sha256').update(id).digest('hex');
}

export function startGearmanTask(task: GearmanTask, opts: TaskStartOptions = {}): TaskHandle {
  const startedAt = Date.now();
  const timeoutMs = effectiveTimeout(opts.timeoutMs, task.timeoutMs);
  const client = new GearmanClient({
    servers: task.servers,
    jobTimeoutMs: timeoutMs,
    ...(timeoutMs !== null ? { requestTimeoutMs: Math.min(timeoutMs, 5_000), connectTimeoutMs: Math.min(timeoutMs, 2_000) } : {}),
  });
  const unique = gearmanUnique(task.function, opts.env);
  let cancelled: string | null = null;
  let cancelHook: (() => void) | null = null;
  const cancelledP = new Promise<'cancelled'>((resolve) => (cancelHook = () => resolve('cancelled')));
  const stdout: string[] = [];
  const stderr: string[] = [];
  const finish = (r: Partial<TaskResult>): TaskResult => ({
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: cancelled !== null,
    error: null,
    stdout: stdout.join(''),
    stderr: stderr.join(''),
    startedAt,
    finishedAt: Date.now(),
    ...r,
  });

  const work = async (): Promise<TaskResult> => {
    const opt = unique === undefined ? {} : { unique };
    if (!task.wait) {
      const s = await client.submitBackground(task.function, '', opt);
      stdout.push(`queued ${s.handle} on ${s.server.host}:${s.server.port}${unique ? ` as ${unique}` : ''}\n`);
      return finish({ exitCode: 0 });
    }
    const r: JobResult = await client.submit(task.function, '', opt);
    for (const d of r.data) stdout.push(d.toString('utf8'));
    for (const w of r.warnings) stderr.push(w.toString('utf8'));
    if (r.outcome.status === 'complete') {
      stdout.push(r.outcome.data.toString('utf8'));
      return finish({ exitCode: 0 });
    }
    if (r.outcome.status === 'exception') stderr.push(r.outcome.data.toString('utf8'));
    return finish({ exitCode: 1, error: `gearman job ${r.handle} (${task.function}) ended with ${r.outcome.status}` });
  };

  const done = Promise.race([
    work().catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      return finish({ error: message, timedOut: /gave no result within/.test(message) });
    }),
    cancelledP.then(() => finish({ error: `cancelled: ${cancelled}; the gearman job itself cannot be recalled` })),
  ]).finally(() => client.close());

  return {
    pid: null,
    done,
    tails: () => ({ stdout: stdout.join(''), stderr: stderr.join('') }),
    cancel(reason: string) {
      if (cancelled !== null) return;
      cancelled = reason;
      cancelHook?.();
    },
  };
}
