/**
 * Unique ids that make the same task submitted for the same minute by several clients one job:
 * gearmand merges jobs with equal unique ids while one is queued or running, and the worker
 * remembers completed ids for the rest.
 */
import { UsageError } from '../../errors.js';
import { MAX_UNIQUE_BYTES } from '../../gearman/client.js';

export const DEFAULT_UNIQUE_FORMAT = '{task}@{minute}';
/** `--unique-format none`: no unique id, as distributed-cron's own client submits. */
export const NO_UNIQUE = 'none';

const pad = (n: number) => String(n).padStart(2, '0');

function tokens(task: string, at: Date): Record<string, string> {
  const date = `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
  const hour = `${date}T${pad(at.getUTCHours())}`;
  return {
    task,
    date,
    hour: `${hour}Z`,
    minute: `${hour}:${pad(at.getUTCMinutes())}Z`,
    epochminute: String(Math.floor(at.getTime() / 60_000)),
  };
}

export const UNIQUE_TOKENS = Object.keys(tokens('t', new Date(0)));

/** Checks a format once, before any submit: unknown `{token}`s are a usage error. */
export function checkUniqueFormat(format: string): void {
  if (format === NO_UNIQUE) return;
  for (const m of format.matchAll(/\{([^}]*)\}/g)) {
    if (!UNIQUE_TOKENS.includes(m[1]!)) {
      throw new UsageError(`--unique-format: unknown token {${m[1]}}: expected {${UNIQUE_TOKENS.join('}, {')}} or "${NO_UNIQUE}"`);
    }
  }
}

/** The unique id for `task` fired at `at` (UTC minute), or undefined for "none". */
export function uniqueFor(task: string, at: Date, format = DEFAULT_UNIQUE_FORMAT): string | undefined {
  if (format === NO_UNIQUE) return undefined;
  checkUniqueFormat(format);
  const t = tokens(task, at);
  const id = format.replace(/\{([^}]*)\}/g, (_, k: string) => t[k]!);
  const size = Buffer.byteLength(id);
  if (size > MAX_UNIQUE_BYTES) {
    throw new UsageError(`unique id "${id}" for task ${task} is ${size} bytes: gearmand accepts at most ${MAX_UNIQUE_BYTES}; shorten the task name or --unique-format`);
  }
  return id;
}
