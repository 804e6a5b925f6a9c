import type { TaskHandle, TaskResult } from './task.js';

/** A task that could not start: no exit status, the reason in `error`. */
export function failedToStart(error: string, startedAt: number): TaskHandle {
  const result: TaskResult = {
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    error,
    stdout: '',
    stderr: '',
    startedAt,
    finishedAt: Date.now(),
  };
  return {
    pid: null,
    done: Promise.resolve(result),
    tails: () => ({ stdout: '', stderr: '' }),
    cancel: () => {},
  };
}

/** The timeout that applies: the caller's when it gave one (null meaning none), else the task's. */
export function effectiveTimeout(optsTimeout: number | null | undefined, taskTimeout: number | undefined): number | null {
  const t = optsTimeout !== undefined ? optsTimeout : taskTimeout;
  return t === undefined || t === null ? null : t;
}
