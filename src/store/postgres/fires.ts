import { ConflictError, NotFoundError, StoreError } from '../../errors.js';
import { planFireRuns, type NewFire, type NodeLiveness } from '../fire-runs.js';
import type { NewRun } from '../retry.js';
import { bool, num, scheduleFromRow, stringList, type Row } from '../rows.js';
import type { CreatedFire, FireBatchResult, FireOptions, FirePlan, Run } from '../types.js';
import { rows, type Q } from './db.js';

/**
 * Invariant 1: the schedules are locked in name order (so racing batches never deadlock), the
 * cursors move by compare-and-set, and fires are inserted under their unique key, all in the
 * caller's transaction. A batch that lost the race sees the moved cursor once the lock is free.
 * Each step is one statement over arrays, so a batch of 1,000 plans costs a handful of round trips.
 */
export async function createDueFiresTx(c: Q, plans: FirePlan[], opts: FireOptions): Promise<FireBatchResult> {
  const names = plans.map((p) => p.schedule);
  await c.query('SELECT 1 FROM schedules WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE', [names]);
  const moved = await rows(
    c,
    `UPDATE schedules s SET cursor = p.to_cursor
     FROM unnest($1::text[], $2::int8[], $3::int8[]) AS p(name, from_cursor, to_cursor)
     WHERE s.name = p.name AND s.cursor IS NOT DISTINCT FROM p.from_cursor AND s.enabled AND NOT s.paused
     RETURNING s.*`,
    [names, plans.map((p) => p.fromCursor), plans.map((p) => p.toCursor)],
  );
  const schedules = new Map(moved.map((r) => [String(r.name), scheduleFromRow(r)]));
  const applied = plans.filter((p) => schedules.has(p.schedule));
  const stale = plans.filter((p) => !schedules.has(p.schedule)).map((p) => p.schedule);

  const keys = applied.flatMap((p) => p.fires.map((f) => ({ plan: p, fire: f })));
  const inserted = await rows(
    c,
    `INSERT INTO fires (schedule, scheduled_at, manual, created_by, created_at)
     SELECT f.schedule, f.scheduled_at, false, $3, $4 FROM unnest($1::text[], $2::int8[]) AS f(schedule, scheduled_at)
     ON CONFLICT DO NOTHING RETURNING schedule, scheduled_at`,
    [keys.map((k) => k.plan.schedule), keys.map((k) => k.fire.scheduledAt), opts.node, opts.now],
  );
  const created = new Set(inserted.map((r) => `${String(r.schedule)}\u0000${num(r.scheduled_at)}`));
  const fires: NewFire[] = keys
    .filter((k) => created.has(`${k.plan.schedule}\u0000${k.fire.scheduledAt}`))
    .map((k) => ({
      schedule: schedules.get(k.plan.schedule)!,
      scheduledAt: k.fire.scheduledAt,
      notBefore: k.fire.notBefore,
      manual: false,
      ...(k.fire.skipReason !== undefined ? { skipReason: k.fire.skipReason } : {}),
    }));
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
  const plan = planFireRuns(fires, active, nodes, opts.now, opts.nodeTtlMs);

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
  const inserted = await insertRuns(c, plan.runs.map((r) => r.run));
  const out: CreatedFire[] = fires.map((f) => ({ schedule: f.schedule.name, scheduledAt: f.scheduledAt, manual: f.manual, runs: [] }));
  const index = new Map(out.map((f, i) => [`${f.schedule}\u0000${f.scheduledAt}`, i]));
  for (const run of inserted) out[index.get(`${run.schedule}\u0000${run.scheduledAt}`)!]!.runs.push(run);
  return out;
}

/** Inserts runs in one statement; returned in the order given. */
export async function insertRuns(c: Q, runs: NewRun[]): Promise<Run[]> {
  if (runs.length === 0) return [];
  const col = <K extends keyof NewRun>(k: K): Array<NewRun[K]> => runs.map((r) => r[k]);
  const inserted = await rows(
    c,
    `INSERT INTO runs (schedule, task, scheduled_at, attempt, status, target_node, target_tag, node, not_before, created_at,
       started_at, finished_at, lease_until, exit_code, signal, reason, timeout_ms, cancel_requested, log_path, manual)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int4[], $5::text[], $6::text[], $7::text[], $8::text[],
       $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int4[], $15::text[], $16::text[], $17::int8[],
       $18::bool[], $19::text[], $20::bool[])
     RETURNING id, schedule, scheduled_at`,
    [
      col('schedule'),
      col('task'),
      col('scheduledAt'),
      col('attempt'),
      col('status'),
      col('targetNode'),
      col('targetTag'),
      col('node'),
      col('notBefore'),
      col('createdAt'),
      col('startedAt'),
      col('finishedAt'),
      col('leaseUntil'),
      col('exitCode'),
      col('signal'),
      col('reason'),
      col('timeoutMs'),
      col('cancelRequested'),
      col('logPath'),
      col('manual'),
    ],
  );
  // Only the ids come back (reading 21 columns of 1,000 rows back cost more than the insert's
  // own planning); rows are inserted, and returned, in the order of the arrays.
  return inserted.map((row, i) => {
    const run = runs[i]!;
    if (String(row.schedule) !== run.schedule || num(row.scheduled_at) !== run.scheduledAt) {
      throw new StoreError(`runs came back from INSERT out of order at row ${i}: expected ${run.schedule}@${run.scheduledAt}`);
    }
    return { id: num(row.id), ...run };
  });
}

export async function loadNodes(c: Q): Promise<NodeLiveness[]> {
  return (await rows(c, 'SELECT name, tasks, tags, heartbeat_at, draining FROM nodes')).map((r: Row) => ({
    name: String(r.name),
    tasks: stringList(r.tasks),
    tags: stringList(r.tags),
    heartbeatAt: num(r.heartbeat_at),
    draining: bool(r.draining),
  }));
}
