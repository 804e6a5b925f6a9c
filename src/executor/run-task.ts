import { CronfleetError } from '../errors.js';
import { startGearmanTask } from '../gearman/task.js';
import { startHttp } from './http-task.js';
import { startCommand } from './process.js';
import type { BuiltinTask, TaskDef, TaskHandle, TaskResult, TaskStartOptions } from './task.js';

/** A task definition names a kind this node cannot run. */
export class TaskKindError extends CronfleetError {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super('CF_ERR_TASK_KIND', message);
    this.kind = kind;
  }
}

function startBuiltin(task: BuiltinTask): TaskHandle {
  if (task.builtin !== 'noop') {
    throw new TaskKindError('builtin', `builtin "${String(task.builtin)}" is unknown: expected "noop"`);
  }
  const now = Date.now();
  const result: TaskResult = {
    exitCode: 0,
    signal: null,
    timedOut: false,
    cancelled: false,
    error: null,
    stdout: '',
    stderr: '',
    startedAt: now,
    finishedAt: now,
  };
  return { pid: null, done: Promise.resolve(result), tails: () => ({ stdout: '', stderr: '' }), cancel: () => {} };
}

/**
 * Starts one task of any kind. Failures to run (spawn errors, unreachable URLs) end in a
 * TaskResult with `error` set; only a definition of a kind this node cannot run throws.
 */
export function startTask(task: TaskDef, opts: TaskStartOptions = {}): TaskHandle {
  switch (task.kind) {
    case 'command':
      return startCommand(task, opts);
    case 'http':
      return startHttp(task, opts);
    case 'builtin':
      return startBuiltin(task);
    case 'gearman':
      return startGearmanTask(task, opts);
    default: {
      const kind = (task as { kind?: unknown }).kind;
      throw new TaskKindError(String(kind), `task kind "${String(kind)}" is unknown: expected command, http, builtin or gearman`);
    }
  }
}
