import { ConflictError, NotFoundError, StoreError } from '../../errors.js';
import { planFireRuns, type NewFire, type NodeLiveness } from '../fire-runs.js';
import { NEW_RUN_COLUMNS, type NewRun } from '../retry.js';
import { FIRE_SCHEDULE_COLUMNS, bool, fireScheduleFromRow, num, qualified, scheduleFromRow, stringList, type Row } from '../rows.js';
import type { CreatedFire, FireBatchResult, FireOptions, FirePlan, Run, RunOutput } from '../types.js';
import { preparedRows, rows, type Q } from './db.js';
import { recordSource, type RecordField } from './records.js';

/**
 * Invariant 1: the schedules are locked in name order (so racing batches never deadlock), the
 * cursors move by compare-and-set, and fires are inserted under their unique key, all in the
 * caller's transaction. A batch that lost the race sees the moved cursor once the lock is free.
 * Each step is one statement over the whole batch, so 1,000 plans cost a handful of round trips.
 */
export async function createDueFiresTx(c: Q, plans: FirePlan[], opts: FireOptions): Promise<FireBatchResult> {
  // The plans go as one JSON parameter: their cursors and fire instants are read from it where
  // array literals of every name and instant would be built otherwise. The rows are locked in name
  // order before any is moved, in the statement that moves them (a second round trip cost ~6 µs
  // of each fire); a row another batch moved meanwhile fails the compare-and-set once its lock is
  // free (the UPDATE re-reads it).
  const planJson = JSON.stringify(plans);
  const moved = await preparedRows(
    c,
    `WITH locked AS MATERIALIZED (
       SELECT s.name, p."fromCursor", p."toCursor"
       FROM schedules s JOIN json_to_recordset($1::json) AS p("schedule" text, "fromCursor" int8, "toCursor" int8) ON s.name = p.schedule
       ORDER BY s.name FOR UPDATE OF s)
     UPDATE schedules s SET cursor = l."toCursor" FROM locked l
     WHERE s.name = l.name AND s.cursor IS NOT DISTINCT FROM l."fromCursor" AND s.enabled AND NOT s.paused
     RETURNING ${qualified(FIRE_SCHEDULE_COLUMNS, 's')}`,
    [planJson],
  );
  const schedules = new Map(moved.map((r) => [String(r.name), fireScheduleFromRow(r)]));
  const applied = plans.filter((p) => schedules.has(p.schedule));
  const stale = plans.filter((p) => !schedules.has(p.schedule)).map((p) => p.schedule);

  const planned = applied.reduce((n, p) => n + p.fires.length, 0);
  // One row back: the keys inserted come only when some were taken already (a fire another node
  // made), as JSON. A row per fire cost the node more to read than anything else of the call.
  const [inserted] = await preparedRows(
    c,
    `WITH ins AS (
       INSERT INTO fires (schedule, scheduled_at, manual, created_by, created_at)
       SELECT p.schedule, (f->>'scheduledAt')::int8, false, $2, $3
       FROM json_to_recordset($1::json) AS p("schedule" text, "fires" json), json_array_elements(p.fires) AS f
       ON CONFLICT DO NOTHING RETURNING schedule, scheduled_at)
     SELECT count(*)::int4 AS n, CASE WHEN count(*) < $4 THEN json_agg(json_build_array(schedule, scheduled_at)) END AS keys FROM ins`,
    [applied.length === plans.length ? planJson : JSON.stringify(applied), opts.node, opts.now, planned],
  );
  // Every key was free (the usual case): no set of them to look each one up in.
  const created =
    Number(inserted!.n) === planned ? null : new Set(((inserted!.keys ?? []) as Array<[string, number]>).map(([name, at]) => `${name}\u0000${at}`));
  const fires: NewFire[] = [];
  for (const p of applied) {
    const schedule = schedules.get(p.schedule)!;
    for (const f of p.fires) {
      if (created && !created.has(`${p.schedule}\u0000${f.scheduledAt}`)) continue;
      fires.push({ schedule, scheduledAt: f.scheduledAt, notBefore: f.notBefore, manual: false, ...(f.skipReason !== undefined && { skipReason: f.skipReason }) });
    }
  }
  return { applied: applied.map((p) => p.schedule), stale, fires: await makeRuns(c, fires, opts) };
}

export async function triggerScheduleTx(c: Q, name: string, opts: FireOptions): Promise<CreatedFire> {
  const [row] = await rows(c, 'SELECT * FROM schedules WHERE name = $1 FOR UPDATE', [name]);
  if (!row) throw new NotFoundError('schedule', name);
  const schedule = scheduleFromRow(row);
  if (!schedule.enabled) throw new ConflictError(`schedule "${name}" is disabled (removed from the config): it cannot be triggered`);
  const ins = await c.query(
    'INSERT INTO fires (schedule, scheduled_at, manual, created_by, created_at) VALUES ($1, $2, true, $3, $2) ON CONFLICT DO NOTHING',
    [name, opts.now, opts.node],
  );
  if (ins.rowCount !== 1) {
    throw new ConflictError(`schedule "${name}" already has a fire at ${new Date(opts.now).toISOString()}: try again`);
  }
  const fires = await makeRuns(c, [{ schedule, scheduledAt: opts.now, notBefore: opts.now, manual: true }], opts);
  return fires[0]!;
}

async function makeRuns(c: Q, fires: NewFire[], opts: FireOptions): Promise<CreatedFire[]> {
  if (fires.length === 0) return [];
  const needActive = [...new Set(fires.filter((f) => f.schedule.concurrency !== 'allow').map((f) => f.schedule.name))];
  const active = needActive.length
    ? (
        await rows(
          c,
          "SELECT id, schedule, status FROM runs WHERE status IN ('queued', 'running') AND schedule = ANY($1::text[]) ORDER BY id",
          [needActive],
        )
      ).map((r) => ({ id: num(r.id), schedule: String(r.schedule), status: String(r.status) as 'queued' | 'running' }))
    : [];
  const nodes = fires.some((f) => f.skipReason === undefined) ? await loadNodes(c) : [];
  const plan = planFireRuns(fires, active, nodes, opts);

  if (plan.cancelQueued.length) {
    await c.query(
      `UPDATE runs r SET status = 'cancelled', finished_at = $3, reason = x.reason
       FROM unnest($1::int8[], $2::text[]) AS x(id, reason) WHERE r.id = x.id AND r.status = 'queued'`,
      [plan.cancelQueued.map((x) => x.id), plan.cancelQueued.map((x) => x.reason), opts.now],
    );
  }
  if (plan.requestCancel.length) {
    await c.query(
      `UPDATE runs r SET cancel_requested = true, reason = x.reason
       FROM unnest($1::int8[], $2::text[]) AS x(id, reason) WHERE r.id = x.id AND r.status = 'running'`,
      [plan.requestCancel.map((x) => x.id), plan.requestCancel.map((x) => x.reason)],
    );
  }
  const deferred = await deferRuns(c, plan.runs.filter((r) => isDeferrable(fires[r.fire]!, r.run, opts)), opts);
  const written = deferred.size === 0 ? plan.runs : plan.runs.filter((r) => !deferred.has(r.run));
  const inserted = await insertRuns(c, written.map((r) => r.run));
  const out: CreatedFire[] = fires.map((f) => ({ schedule: f.schedule.name, scheduledAt: f.scheduledAt, manual: f.manual, runs: [] }));
  for (const r of plan.runs) {
    if (deferred.has(r.run)) out[r.fire]!.runs.push(r.run as Run);
  }
  for (let i = 0; i < inserted.length; i++) out[written[i]!.fire]!.runs.push(inserted[i]!);
  return out;
}

/**
 * How far behind its instant a run may be and still be deferred: the sweep that looks for a dead
 * node's unwritten runs reads the runs of the instants its latest fires hold, which a fire caught
 * up from long ago would stretch across the whole history.
 */
const DEFER_MAX_AGE_MS = 5_000;

/**
 * A run its creator claimed may go unwritten (FireClaim.defer) when nothing else looks for it
 * until it ends: `forbid` and `replace` look up a schedule's active runs in the store.
 */
function isDeferrable(fire: NewFire, run: NewRun, opts: FireOptions): boolean {
  return (
    opts.claim?.defer !== undefined &&
    run.status === 'running' &&
    run.node === opts.node &&
    fire.schedule.concurrency === 'allow' &&
    run.scheduledAt >= opts.now - DEFER_MAX_AGE_MS
  );
}

/**
 * Gives `runs` their ids without writing them, if the node's deferral epoch is still the one its
 * claim names; returns the runs deferred (none otherwise: they are written as always).
 * The node's row is locked FOR KEY SHARE until COMMIT: a sweep taking the node's unwritten runs
 * for lost locks it FOR UPDATE, so either it sees these fires, or this sees the epoch it moved.
 * Heartbeats and marks (no key change) do not wait on it.
 */
async function deferRuns(c: Q, runs: Array<{ run: NewRun }>, opts: FireOptions): Promise<Set<NewRun>> {
  const defer = opts.claim?.defer;
  if (runs.length === 0 || defer === undefined) return new Set();
  // The ids as one text: a row each cost the node more to read than the check itself.
  const [ok] = await preparedRows(
    c,
    `SELECT (SELECT string_agg(nextval('runs_id_seq')::text, ',') FROM generate_series(1, $4::int4)) AS ids
     FROM nodes WHERE name = $1 AND defer_epoch = $2 AND deferred_since <= $3 FOR KEY SHARE`,
    [opts.node, defer.epoch, opts.now, runs.length],
  );
  if (!ok) return new Set();
  const ids = String(ok.ids).split(',');
  if (ids.length !== runs.length) throw new StoreError(`asked for ${runs.length} run ids, got ${ids.length}`);
  runs.forEach(({ run }, i) => {
    const r = run as Run;
    r.id = Number(ids[i]);
    r.deferred = true;
  });
  return new Set(runs.map((r) => r.run));
}

/** A new run's fields, in NEW_RUN_COLUMNS order, as recordSource sends them. */
const RUN_FIELDS: readonly RecordField[] = [
  ['schedule', 'text'], ['task', 'text'], ['scheduledAt', 'int8'], ['attempt', 'int4'], ['status', 'text'], ['targetNode', 'text'],
  ['targetTag', 'text'], ['node', 'text'], ['notBefore', 'int8'], ['createdAt', 'int8'], ['startedAt', 'int8'], ['finishedAt', 'int8'],
  ['leaseUntil', 'int8'], ['exitCode', 'int4'], ['signal', 'text'], ['reason', 'text'], ['timeoutMs', 'int8'], ['cancelRequested', 'bool'],
  ['logPath', 'text'], ['manual', 'bool'],
];

/** Inserts runs in one statement; returned in the order given. */
export async function insertRuns(c: Q, runs: NewRun[]): Promise<Run[]> {
  if (runs.length === 0) return [];
  // One JSON parameter of the fields that differ between the runs (see recordSource): twenty array
  // literals built element by element (pg's arrayString) allocated ~6 KB per run on the node's fire path.
  const src = recordSource(RUN_FIELDS, runs as unknown as Array<Record<string, unknown>>);
  const inserted = await preparedRows(
    c,
    `INSERT INTO runs (${NEW_RUN_COLUMNS}) SELECT ${RUN_FIELDS.map(([key]) => src.field[key]).join(', ')} FROM ${src.from}
     RETURNING id, schedule, scheduled_at`,
    src.params,
  );
  // Only the ids come back (reading 21 columns of 1,000 rows back cost more than the insert's
  // own planning); rows are inserted, and returned, in the order given.
  return inserted.map((row, i) => {
    const run = runs[i]!;
    if (String(row.schedule) !== run.schedule || num(row.scheduled_at) !== run.scheduledAt) {
      throw new StoreError(`runs came back from INSERT out of order at row ${i}: expected ${run.schedule}@${run.scheduledAt}`);
    }
    // The new run becomes the Run, in place: a copy of each of 1,000 runs a batch was garbage at once.
    const stored = run as Run;
    stored.id = num(row.id);
    return stored;
  });
}

/** A deferred run's fields as it is written at last: its id and output too. */
const WRITTEN_RUN_FIELDS: readonly RecordField[] = [['id', 'int8'], ...RUN_FIELDS, ['stdout', 'text'], ['stderr', 'text']];

/**
 * Writes runs that createDueFires deferred (Run.deferred), under the ids they were given then,
 * as they are now: still `running` with a lease (a heartbeat writes a run that goes on), or
 * finished with their output. A heartbeat's write and a result may cross: a run already written
 * is left as it is by the first, and finished by the second if it is still `running` on the same
 * node (not swept lost meanwhile). Returns the ids written or finished.
 */
export async function insertDeferredRuns(c: Q, runs: Array<Run & RunOutput>, mode: 'running' | 'finished'): Promise<number[]> {
  if (runs.length === 0) return [];
  const src = recordSource(WRITTEN_RUN_FIELDS, runs as unknown as Array<Record<string, unknown>>);
  const written = await preparedRows(
    c,
    `INSERT INTO runs AS r (id, ${NEW_RUN_COLUMNS}, stdout, stderr) OVERRIDING SYSTEM VALUE
     SELECT ${WRITTEN_RUN_FIELDS.map(([key]) => src.field[key]).join(', ')} FROM ${src.from}
     ON CONFLICT (id) DO ${
       mode === 'running'
         ? 'NOTHING'
         : `UPDATE SET status = excluded.status, finished_at = excluded.finished_at, exit_code = excluded.exit_code,
             signal = excluded.signal, reason = excluded.reason, stdout = excluded.stdout, stderr = excluded.stderr,
             lease_until = NULL, started_at = excluded.started_at, log_path = excluded.log_path
           WHERE r.status = 'running' AND r.node = excluded.node`
     }
     RETURNING r.id`,
    src.params,
  );
  return written.map((row) => num(row.id));
}

export async function loadNodes(c: Q): Promise<NodeLiveness[]> {
  return (await preparedRows(c, 'SELECT name, tasks, tags, heartbeat_at, draining FROM nodes')).map((r: Row) => ({
    name: String(r.name),
    tasks: stringList(r.tasks),
    tags: stringList(r.tags),
    heartbeatAt: num(r.heartbeat_at),
    draining: bool(r.draining),
  }));
}
