import { ConflictError } from '../errors.js';
import type { UnwrittenFire } from './fire-runs.js';
import type { Lease, NodeRecord, Run, RunOutput, RunStatus, Schedule, ScheduleSpec, Target } from './types.js';

/**
 * Row shapes shared by both stores. SQLite hands back numbers and 0/1 for booleans; pg hands
 * back int8 as strings and real booleans, so every field goes through `num`/`bool`.
 */
export type Row = Record<string, unknown>;

export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'bigint') return Number(v);
  throw new TypeError(`expected a number from the store, got ${typeof v}`);
}

export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

export function bool(v: unknown): boolean {
  return v === true || v === 1 || v === 1n;
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** Every column of `runs` except the output tails, which only getRunOutput reads. */
export const RUN_COLUMNS =
  'id, schedule, task, scheduled_at, attempt, status, target_node, target_tag, node, not_before, created_at, ' +
  'started_at, finished_at, lease_until, exit_code, signal, reason, timeout_ms, cancel_requested, log_path, manual';

export function runFromRow(r: Row): Run {
  return {
    id: num(r.id),
    schedule: String(r.schedule),
    task: intern(r.task),
    scheduledAt: num(r.scheduled_at),
    attempt: num(r.attempt),
    status: intern(r.status) as RunStatus,
    targetNode: strOrNull(r.target_node),
    targetTag: strOrNull(r.target_tag),
    node: strOrNull(r.node),
    notBefore: num(r.not_before),
    createdAt: num(r.created_at),
    startedAt: numOrNull(r.started_at),
    finishedAt: numOrNull(r.finished_at),
    leaseUntil: numOrNull(r.lease_until),
    exitCode: numOrNull(r.exit_code),
    signal: strOrNull(r.signal),
    reason: strOrNull(r.reason),
    timeoutMs: numOrNull(r.timeout_ms),
    cancelRequested: bool(r.cancel_requested),
    logPath: strOrNull(r.log_path),
    manual: bool(r.manual),
  };
}

function targetFromRow(r: Row): Target {
  const kind = String(r.target_kind);
  return kind === 'tag' ? { kind: 'tag', tag: String(r.target_tag) } : kind === 'all' ? { kind: 'all' } : { kind: 'any' };
}

/** A column list (`a, b`) with each column named through a table alias (`r.a, r.b`). */
export function qualified(columns: string, alias: string): string {
  return columns.split(', ').map((c) => `${alias}.${c}`).join(', ');
}

/** What making a fire's runs needs of its schedule: the columns read when fires are created. */
export type FireSchedule = Pick<Schedule, 'name' | 'task' | 'target' | 'concurrency' | 'timeoutMs'>;
export const FIRE_SCHEDULE_COLUMNS = 'name, task, target_kind, target_tag, concurrency, timeout_ms';

/**
 * The columns both stores read for a fire with no run of its creator's (UnwrittenFire): the
 * fire's as `f`, its schedule's as `s`.
 */
export const UNWRITTEN_FIRE_COLUMNS = `f.scheduled_at, f.manual, f.created_at, ${qualified(FIRE_SCHEDULE_COLUMNS, 's')}`;

export function unwrittenFireFromRow(r: Row): UnwrittenFire {
  return { schedule: fireScheduleFromRow(r), scheduledAt: num(r.scheduled_at), manual: bool(r.manual), createdAt: num(r.created_at) };
}

export function fireScheduleFromRow(r: Row): FireSchedule {
  return {
    name: String(r.name),
    task: String(r.task),
    target: targetFromRow(r),
    concurrency: String(r.concurrency) as Schedule['concurrency'],
    timeoutMs: numOrNull(r.timeout_ms),
  };
}

/**
 * One copy of each short string that many rows repeat (expression, zone, task, policies, run
 * status): the driver makes a fresh string per row, and a scheduler keeps every schedule it
 * reads, an executor every run it holds.
 */
const interned = new Map<string, string>();
const INTERNED_LIMIT = 10_000;
function intern(value: unknown): string {
  const s = String(value);
  const known = interned.get(s);
  if (known !== undefined) return known;
  if (interned.size >= INTERNED_LIMIT) interned.clear();
  interned.set(s, s);
  return s;
}

export function scheduleFromRow(r: Row): Schedule {
  const target = targetFromRow(r);
  return {
    name: String(r.name),
    expr: intern(r.expr),
    timezone: intern(r.timezone),
    task: intern(r.task),
    target,
    concurrency: intern(r.concurrency) as Schedule['concurrency'],
    misfire: intern(r.misfire) as Schedule['misfire'],
    misfireLimit: num(r.misfire_limit),
    retries: { max: num(r.retries_max), backoffMs: num(r.retry_backoff_ms) },
    timeoutMs: numOrNull(r.timeout_ms),
    jitterMs: num(r.jitter_ms),
    source: intern(r.source) as Schedule['source'],
    enabled: bool(r.enabled),
    paused: bool(r.paused),
    cursor: numOrNull(r.cursor),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

/** The spec columns of a schedule, in the order of SCHEDULE_SPEC_COLUMNS. */
export const SCHEDULE_SPEC_COLUMNS = [
  'expr',
  'timezone',
  'task',
  'target_kind',
  'target_tag',
  'concurrency',
  'misfire',
  'misfire_limit',
  'retries_max',
  'retry_backoff_ms',
  'timeout_ms',
  'jitter_ms',
] as const;

export function scheduleSpecValues(spec: ScheduleSpec): Array<string | number | null> {
  return [
    spec.expr,
    spec.timezone,
    spec.task,
    spec.target.kind,
    spec.target.kind === 'tag' ? spec.target.tag : null,
    spec.concurrency,
    spec.misfire,
    spec.misfireLimit,
    spec.retries.max,
    spec.retries.backoffMs,
    spec.timeoutMs,
    spec.jitterMs,
  ];
}

/** True when the stored schedule already says what `spec` says. */
export function sameSpec(s: Schedule, spec: ScheduleSpec): boolean {
  const a = scheduleSpecValues(s);
  const b = scheduleSpecValues(spec);
  return a.every((v, i) => v === b[i]);
}

/** A config sync met a schedule of the same name made through the API. */
export const bothSources = (name: string): ConflictError =>
  new ConflictError(`schedule "${name}" is in the config and was also made through the API: delete the API schedule or rename one`);

/** The nodes, with each one's running runs counted or not (ListNodesOptions); same SQL for both stores. */
export const listNodesSql = (counts: boolean): string =>
  counts
    ? "SELECT n.*, (SELECT count(*) FROM runs r WHERE r.node = n.name AND r.status = 'running') AS running FROM nodes n ORDER BY n.name"
    : 'SELECT n.* FROM nodes n ORDER BY n.name';

export function nodeFromRow(r: Row, running: number | null): NodeRecord {
  return {
    name: String(r.name),
    host: String(r.host),
    pid: num(r.pid),
    version: String(r.version),
    tasks: stringList(r.tasks),
    tags: stringList(r.tags),
    startedAt: num(r.started_at),
    scheduler: bool(r.scheduler),
    heartbeatAt: num(r.heartbeat_at),
    draining: bool(r.draining),
    clockSkewMs: num(r.clock_skew_ms),
    running,
    executing: r.executing === null || r.executing === undefined ? null : num(r.executing),
    planned:
      r.planned_through === null || r.planned_through === undefined
        ? null
        : { through: num(r.planned_through), view: String(r.planned_view), at: num(r.planned_at) },
  };
}

/** SQLite keeps lists as JSON text; pg returns text[] as arrays. */
export function stringList(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') {
    const parsed: unknown = JSON.parse(v);
    if (Array.isArray(parsed)) return parsed.map(String);
  }
  return [];
}

export function leaseFromRow(r: Row, held: boolean): Lease {
  return {
    name: String(r.name),
    holder: strOrNull(r.holder),
    fence: num(r.fence),
    expiresAt: num(r.expires_at),
    held,
  };
}

const storableText = (s: string): string => (s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s);

/**
 * Output as both stores keep it: a NUL byte becomes U+FFFD, since PostgreSQL's text cannot hold
 * NUL (storing it failed the whole batch of results it came in). Everything else is kept as is.
 */
export function storableOutput(o: RunOutput): RunOutput {
  return o.stdout.includes('\0') || o.stderr.includes('\0') ? { stdout: storableText(o.stdout), stderr: storableText(o.stderr) } : o;
}
