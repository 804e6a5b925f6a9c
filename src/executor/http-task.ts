import { LogFile, TailBuffer } from './output.js';
import { effectiveTimeout } from './result.js';
import { DEFAULT_TAIL_BYTES } from './task.js';
import type { HttpTask, TaskHandle, TaskResult, TaskStartOptions } from './task.js';

function isExpected(status: number, expect: number[] | undefined): boolean {
  return expect && expect.length > 0 ? expect.includes(status) : status >= 200 && status <= 299;
}

function describeExpected(expect: number[] | undefined): string {
  return expect && expect.length > 0 ? expect.join(' or ') : '200-299';
}

/** fetch hides the socket error (ECONNREFUSED, ENOTFOUND...) in `cause`; that is what an operator needs. */
function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause;
  if (cause && typeof cause === 'object') return `${cause.code ? `${cause.code}: ` : ''}${cause.message ?? e.message}`;
  return e.message ?? String(err);
}

/**
 * Runs an http task in process: success is a status in `expect`. The first `tailBytes` of the
 * body go to the stdout tail and the log; the rest is not read, so a huge or endless body
 * cannot hold the run open. The timeout covers the whole exchange, body included.
 */
export function startHttp(task: HttpTask, opts: TaskStartOptions): TaskHandle {
  const startedAt = Date.now();
  const limit = opts.tailBytes ?? DEFAULT_TAIL_BYTES;
  const out = new TailBuffer(limit);
  const err = new TailBuffer(limit);
  const log = opts.logPath !== undefined ? new LogFile(opts.logPath) : null;
  const abort = new AbortController();
  let stopping: 'timeout' | 'cancel' | null = null;
  // Set once the response is in: a timer firing while the connection is released changes nothing.
  let answered = false;
  const timeoutMs = effectiveTimeout(opts.timeoutMs, task.timeoutMs);
  const timer = timeoutMs !== null ? setTimeout(() => stop('timeout'), timeoutMs) : undefined;

  function stop(why: 'timeout' | 'cancel'): void {
    if (stopping || answered) return;
    stopping = why;
    abort.abort();
  }

  const note = (stream: TailBuffer, text: string): void => {
    const buf = Buffer.from(text);
    stream.push(buf);
    log?.write(buf);
  };

  const exchange = async (): Promise<Pick<TaskResult, 'exitCode' | 'error'>> => {
    const method = task.method.toUpperCase();
    try {
      const res = await fetch(task.url, {
        method,
        headers: task.headers,
        body: task.body,
        signal: abort.signal,
        redirect: 'manual',
      });
      let kept = 0;
      if (res.body) {
        const reader = res.body.getReader();
        while (kept < limit) {
          const { done, value } = await reader.read();
          if (done) break;
          const chunk = Buffer.from(value.buffer, value.byteOffset, Math.min(value.byteLength, limit - kept));
          kept += chunk.length;
          out.push(chunk);
          log?.write(chunk);
        }
        answered = true;
        await reader.cancel().catch(() => {});
      }
      answered = true;
      if (isExpected(res.status, task.expect)) return { exitCode: 0, error: null };
      note(err, `HTTP ${res.status} received from ${method} ${task.url}; expected ${describeExpected(task.expect)}\n`);
      return { exitCode: 1, error: null };
    } catch (e) {
      if (stopping === 'timeout') {
        note(err, `no complete response from ${method} ${task.url} within ${timeoutMs} ms\n`);
        return { exitCode: null, error: `timed out after ${timeoutMs} ms` };
      }
      if (stopping === 'cancel') return { exitCode: null, error: null };
      const why = describeFetchError(e);
      note(err, `${method} ${task.url} failed: ${why}\n`);
      return { exitCode: null, error: `${method} ${task.url} failed: ${why}` };
    }
  };

  const done = exchange().then(async (partial): Promise<TaskResult> => {
    clearTimeout(timer);
    const logError = log ? await log.close() : null;
    if (logError) err.push(Buffer.from(`[cronfleet] ${logError}\n`));
    return {
      ...partial,
      signal: null,
      timedOut: stopping === 'timeout',
      cancelled: stopping === 'cancel',
      stdout: out.text(),
      stderr: err.text(),
      startedAt,
      finishedAt: Date.now(),
    };
  });

  return {
    pid: null,
    done,
    tails: () => ({ stdout: out.text(), stderr: err.text() }),
    cancel: () => stop('cancel'),
  };
}
