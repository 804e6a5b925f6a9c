import { CronSyntaxError } from '../errors.js';
import { engineFor, engineKey } from './engine.js';
import { parseExpression, usesHash } from './expression.js';
import { validateTimezone } from './zone.js';

/**
 * When a schedule is due. Instants are epoch milliseconds; every method is pure (no timers,
 * no clock) and answers strictly after / strictly before its argument.
 */
export interface CompiledSchedule {
  readonly expr: string;
  readonly timezone: string;
  /** null only past croner's search horizon (the year 3000): compile rejects never-firing expressions. */
  nextAfter(after: number): number | null;
  next(after: number, n: number): number[];
  previousBefore(before: number): number | null;
}

export interface CompileOptions {
  timezone: string;
  /** The schedule's name: the seed of `H`. */
  name: string;
}

function checkInstant(ms: number, what: string): void {
  if (!Number.isFinite(ms)) throw new RangeError(`${what}: ${ms} is not a finite epoch-milliseconds value`);
}

function collect(s: CompiledSchedule, after: number, n: number): number[] {
  const out: number[] = [];
  let cursor = after;
  for (let i = 0; i < n; i++) {
    const t = s.nextAfter(cursor);
    if (t === null) break;
    out.push(t);
    cursor = t;
  }
  return out;
}

/**
 * `@every`: multiples of the period counted from the Unix epoch, so every node derives the
 * same instants with no shared state, and spacing is real time whatever the zone does.
 */
class EverySchedule implements CompiledSchedule {
  constructor(
    readonly expr: string,
    readonly timezone: string,
    readonly periodMs: number,
  ) {}
  nextAfter(after: number): number {
    checkInstant(after, 'nextAfter');
    return (Math.floor(after / this.periodMs) + 1) * this.periodMs;
  }
  next(after: number, n: number): number[] {
    return collect(this, after, n);
  }
  previousBefore(before: number): number {
    checkInstant(before, 'previousBefore');
    return (Math.ceil(before / this.periodMs) - 1) * this.periodMs;
  }
}

const MEMO_SIZE = 4;

class CronSchedule implements CompiledSchedule {
  private readonly key: string;
  constructor(
    readonly expr: string,
    readonly timezone: string,
    private readonly pattern: string,
    private readonly dayAnd: boolean,
  ) {
    this.key = engineKey(pattern, timezone, dayAnd);
  }
  // Looked up on each call rather than held, so the engine cache's bound is the memory bound.
  private engine() {
    return engineFor(this.key, this.pattern, this.timezone, this.dayAnd);
  }
  // Schedules sharing an expression and zone share this object, and a scheduler asks each of
  // them for the instants after the same few cursors (the cursor, the instant planned from it,
  // the next one): remembering the last few answers turns a burst of 1,000 identical schedules
  // into a handful of computations instead of croner's ~4 KB of garbage each.
  private readonly memoAfter = new Float64Array(MEMO_SIZE).fill(Number.NaN);
  private readonly memoNext: Array<number | null> = new Array<number | null>(MEMO_SIZE).fill(null);
  private memoAt = 0;
  nextAfter(after: number): number | null {
    for (let i = 0; i < MEMO_SIZE; i++) if (this.memoAfter[i] === after) return this.memoNext[i] ?? null;
    checkInstant(after, 'nextAfter');
    const d = this.engine().nextRun(new Date(after));
    const next = d === null ? null : d.getTime();
    this.memoAfter[this.memoAt] = after;
    this.memoNext[this.memoAt] = next;
    this.memoAt = (this.memoAt + 1) % MEMO_SIZE;
    return next;
  }
  next(after: number, n: number): number[] {
    return collect(this, after, n);
  }
  previousBefore(before: number): number | null {
    checkInstant(before, 'previousBefore');
    const d = this.engine().previousRuns(1, new Date(before))[0];
    return d === undefined ? null : d.getTime();
  }
}

/**
 * The Gregorian calendar repeats every 400 years, and croner searches forward to the year
 * 3000, so a pattern with no instant after this anchor has none at all.
 */
const FEASIBILITY_ANCHOR = Date.UTC(2000, 0, 1);

export const COMPILED_LIMIT = 20_000;
const compiled = new Map<string, CompiledSchedule>();

function build(expr: string, timezone: string, name: string): CompiledSchedule {
  const parsed = parseExpression(expr, name);
  if (parsed.kind === 'every') return new EverySchedule(expr, timezone, parsed.periodMs);
  const schedule = new CronSchedule(expr, timezone, parsed.pattern, parsed.dayAnd);
  let first: number | null;
  try {
    first = schedule.nextAfter(FEASIBILITY_ANCHOR);
  } catch (err) {
    // Our parser accepts only what croner accepts; reaching this is a bug to report, but the
    // operator still gets a syntax error naming the expression rather than a crash.
    throw new CronSyntaxError('expression', expr, `was rejected by the cron engine: ${(err as Error).message}`);
  }
  if (first === null) {
    throw new CronSyntaxError(
      'expression',
      expr,
      'can never fire: no date matches its day-of-month, month and day-of-week fields together (e.g. February 30th); expected a date that exists',
    );
  }
  return schedule;
}

/**
 * Compiles and caches. The cache key leaves out the name unless the expression uses `H`, so
 * schedules that share an expression share one object; the cache drops its oldest entries
 * past COMPILED_LIMIT.
 */
export function compileSchedule(expr: string, opts: CompileOptions): CompiledSchedule {
  const timezone = validateTimezone(opts.timezone);
  const key = usesHash(expr) ? `${timezone}\u0000${expr}\u0000${opts.name}` : `${timezone}\u0000${expr}`;
  let s = compiled.get(key);
  if (s === undefined) {
    s = build(expr, timezone, opts.name);
    compiled.set(key, s);
    if (compiled.size > COMPILED_LIMIT) {
      const oldest = compiled.keys().next().value;
      if (oldest !== undefined) compiled.delete(oldest);
    }
  }
  return s;
}
