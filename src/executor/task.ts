import type { FinishStatus } from '../store/types.js';
import type { Launcher } from './launcher.js';

/**
 * What a node knows how to run: the task kinds of its local config. The executor and the
 * gearman worker both start tasks through `startTask` (src/executor/run-task.ts), so process
 * handling (process group, timeout, output capture, kill of the group) exists once.
 */
export type TaskDef = CommandTask | HttpTask | BuiltinTask | GearmanTask;

export interface CommandTask {
  kind: 'command';
  /** argv[0] is the program. With `shell: true` the single string in argv[0] goes to /bin/sh -c. */
  argv: string[];
  shell: boolean;
  cwd?: string;
  /** Added to the node's environment. */
  env?: Record<string, string>;
  /** Run as this user (name or uid) when the node runs as root. */
  user?: string;
  /** nice(1) increment, -20..19. */
  nice?: number;
  timeoutMs?: number;
}

export interface HttpTask {
  kind: 'http';
  url: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
  /** Status codes that count as success; default 200-299. */
  expect?: number[];
  timeoutMs?: number;
}

export interface BuiltinTask {
  kind: 'builtin';
  builtin: 'noop';
  timeoutMs?: number;
}

/** Submits a job to an existing gearman fleet (distributed-cron bridge). */
export interface GearmanTask {
  kind: 'gearman';
  function: string;
  servers: Array<{ host: string; port: number }>;
  /** Wait for the job to complete (true) or only for the server to accept it (false). */
  wait: boolean;
  timeoutMs?: number;
}

export interface TaskStartOptions {
  /** Where the full output (stdout and stderr, interleaved) is appended; none when absent. */
  logPath?: string;
  /** Overrides the task's own timeout when set; null means none. */
  timeoutMs?: number | null;
  /** Grace between TERM and KILL. */
  killGraceMs?: number;
  /** Bytes of each stream's tail kept in memory (and in the store). */
  tailBytes?: number;
  /** Extra environment: CRONFLEET_RUN_ID, CRONFLEET_SCHEDULE, ... */
  env?: Record<string, string>;
  /** What forks command tasks; the shared helper when absent (see launcher.ts). */
  launcher?: Launcher;
}

export interface TaskResult {
  /** Process exit status; for http, 0 on an expected status and 1 otherwise. */
  exitCode: number | null;
  /** Signal name that ended the process, if any. */
  signal: string | null;
  timedOut: boolean;
  cancelled: boolean;
  /** Why it failed without an exit status (spawn error, HTTP error...). */
  error: string | null;
  stdout: string;
  stderr: string;
  startedAt: number;
  finishedAt: number;
}

/** How a task's end is recorded: by the executor for a node's runs, by the gearman worker for its jobs. */
export function finishStatusOf(r: TaskResult): FinishStatus {
  if (r.cancelled) return 'cancelled';
  if (r.timedOut) return 'timed_out';
  return r.exitCode === 0 ? 'succeeded' : 'failed';
}

export interface TaskHandle {
  /** Process id for command tasks; null for in-process kinds. */
  readonly pid: number | null;
  readonly done: Promise<TaskResult>;
  /** The current tails, readable while it runs. */
  tails(): { stdout: string; stderr: string };
  /** Stops it: TERM to the whole group, KILL after the grace period. */
  cancel(reason: string): void;
}

export const DEFAULT_TAIL_BYTES = 256 * 1024;
export const DEFAULT_KILL_GRACE_MS = 10_000;
