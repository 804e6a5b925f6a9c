import { ConflictError, NotFoundError } from '../../errors.js';
import { deadNodeReason, deadTargetReason, leaseExpiredReason } from '../lost-reasons.js';
import { unwrittenFireRun } from '../fire-runs.js';
import { retryOf } from '../retry.js';
import { FINAL_STATUSES, type ClaimRequest, type FinishRequest, type FinishResult, type Run } from '../types.js';
import { RUN_COLUMNS, UNWRITTEN_FIRE_COLUMNS, runFromRow, scheduleFromRow, storableOutput, unwrittenFireFromRow, type Row } from '../rows.js';
import { jsonList, type SqliteDb } from './db.js';
import { insertRun } from './fires.js';

/** Claimable by a node: queued, due, a task it offers, and meant for it by name or tag (or anyone). */
const CLAIMABLE =
  "status = 'queued' AND task IN (SELECT value FROM json_each(?)) " +
  'AND (target_node IS NULL OR target_node = ?) AND (target_tag IS NULL OR target_tag IN (SELECT value FROM json_each(?)))';

export function claimRunsTx(db: SqliteDb, req: ClaimRequest): Run[] {
  if (req.tasks.length === 0 || req.limit < 1) return [];
  // Read, then update by id, inside the caller's immediate transaction (nobody else writes in
  // between); cheaper than UPDATE ... RETURNING for a burst of 1,000.
  const picked = db
    .all<Row>(
      `SELECT ${RUN_COLUMNS} FROM runs WHERE ${CLAIMABLE} AND not_before <= ? AND created_at <= ? ORDER BY not_before, id LIMIT ?`,
      jsonList(req.tasks),
      req.node,
      jsonList(req.tags),
      Math.max(req.now, req.dueBy ?? req.now),
      req.createdBy ?? Number.MAX_SAFE_INTEGER,
      req.limit,
    )
    .map(runFromRow);
  if (picked.length === 0) return [];
  const leaseUntil = req.now + req.leaseMs;
  db.run(
    "UPDATE runs SET status = 'running', node = ?, started_at = ?, lease_until = ? WHERE id IN (SELECT value FROM json_each(?))",
    req.node,
    req.now,
    leaseUntil,
    jsonList(picked.map((r) => r.id)),
  );
  // The rows were just read for this claim: they become the claimed runs in place.
  for (const r of picked) {
    r.status = 'running';
    r.node = req.node;
    r.startedAt = req.now;
    r.leaseUntil = leaseUntil;
  }
  return picked;
}

export function nextQueuedAt(db: SqliteDb, node: string, tasks: string[], tags: string[]): number | null {
  if (tasks.length === 0) return null;
  const row = db.get<{ at: number | null }>(`SELECT min(not_before) AS at FROM runs WHERE ${CLAIMABLE}`, jsonList(tasks), node, jsonList(tags));
  return row?.at ?? null;
}

export function finishRunTx(db: SqliteDb, req: FinishRequest): FinishResult {
  const output = storableOutput(req.output);
  // The whole row comes back only when a retry may follow: most runs succeed, and reading 21
  // columns back for each of 1,000 results a second was most of this path's garbage.
  const retryable = req.status === 'failed' || req.status === 'timed_out';
  const row = db.get(
    `UPDATE runs SET status = ?, finished_at = ?, exit_code = ?, signal = ?, reason = ?, stdout = ?, stderr = ?, lease_until = NULL,
       started_at = COALESCE(?, started_at)
     WHERE id = ? AND status = 'running' AND node = ? RETURNING ${retryable ? RUN_COLUMNS : 'id'}`,
    req.status,
    req.now,
    req.exitCode,
    req.signal,
    req.reason,
    output.stdout,
    output.stderr,
    req.startedAt ?? null,
    req.runId,
    req.node,
  );
  if (!row) return { applied: false, retry: null };
  return { applied: true, retry: retryable ? retryRun(db, runFromRow(row), req.now) : null };
}

function retryRun(db: SqliteDb, run: Run, now: number): Run | null {
  const s = db.get('SELECT * FROM schedules WHERE name = ?', run.schedule);
  const next = retryOf(run, s ? scheduleFromRow(s) : null, now);
  return next ? insertRun(db, next) : null;
}

/** Marks one running run lost; returns it and its retry (if any). */
function loseRunning(db: SqliteDb, id: number, reason: string, now: number): Run[] {
  const row = db.get(
    `UPDATE runs SET status = 'lost', finished_at = ?, reason = ?, lease_until = NULL WHERE id = ? AND status = 'running' RETURNING ${RUN_COLUMNS}`,
    now,
    reason,
    id,
  );
  if (!row) return [];
  const run = runFromRow(row);
  return [run];
}

/** Lost runs first, then the retries made for them. */
export function sweepLostRunsTx(db: SqliteDb, now: number, nodeTtlMs: number): { lost: Run[]; retries: Run[] } {
  const lost: Run[] = [];
  const expired = db.all<{ id: number; node: string; lease_until: number }>(
    "SELECT id, node, lease_until FROM runs WHERE status = 'running' AND lease_until < ? ORDER BY id",
    now,
  );
  for (const e of expired) lost.push(...loseRunning(db, e.id, leaseExpiredReason(e.node, e.lease_until), now));
  // A dead node's runs go at once, not when their leases run out (see the PostgreSQL store).
  const orphaned = db.all<{ id: number; node: string; heartbeat_at: number }>(
    `SELECT r.id, r.node, n.heartbeat_at FROM nodes n JOIN runs r ON r.node = n.name AND r.status = 'running'
     WHERE n.heartbeat_at < ? AND r.lease_until >= ? ORDER BY r.id`,
    now - nodeTtlMs,
    now,
  );
  for (const o of orphaned) lost.push(...loseRunning(db, o.id, deadNodeReason(o.node, o.heartbeat_at, nodeTtlMs), now));
  lost.sort((a, b) => a.id - b.id);
  const retries = lost.map((r) => retryRun(db, r, now)).filter((r): r is Run => r !== null);
  // A queued run for one dead node is not retried: the retry would wait for the same node.
  const orphans = db.all<{ id: number; target_node: string }>(
    `SELECT id, target_node FROM runs r WHERE status = 'queued' AND target_node IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = r.target_node AND n.heartbeat_at >= ?) ORDER BY id`,
    now - nodeTtlMs,
  );
  for (const o of orphans) {
    const row = db.get(
      `UPDATE runs SET status = 'lost', finished_at = ?, reason = ? WHERE id = ? AND status = 'queued' RETURNING ${RUN_COLUMNS}`,
      now,
      deadTargetReason(o.target_node, nodeTtlMs),
      o.id,
    );
    if (row) lost.push(runFromRow(row));
  }
  return { lost, retries };
}

export function recoverNodeRunsTx(db: SqliteDb, node: string, now: number): { lost: Run[]; retries: Run[] } {
  const ids = db.all<{ id: number }>("SELECT id FROM runs WHERE status = 'running' AND node = ? ORDER BY id", node);
  const lost = ids.flatMap((r) => loseRunning(db, r.id, `node "${node}" restarted while the run was running`, now));
  const retries = lost.map((r) => retryRun(db, r, now)).filter((r): r is Run => r !== null);
  return { lost, retries };
}

/**
 * See Store.requeueUnanswered. This store writes every run as it creates its fire, so a call
 * that was committed left no fire without its run; the lookup still holds if that changes.
 */
export function requeueUnansweredTx(db: SqliteDb, node: string, firesAt: number, schedules: string[], now: number): Run[] {
  const fires = db.all<Row>(
    `SELECT ${UNWRITTEN_FIRE_COLUMNS}
     FROM fires f JOIN schedules s ON s.name = f.schedule JOIN json_each(?) AS j ON j.value = f.schedule
     WHERE f.created_by = ? AND f.created_at = ?
       AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.schedule = f.schedule AND r.scheduled_at = f.scheduled_at AND (r.target_node IS NULL OR r.target_node = ?))
     ORDER BY f.scheduled_at, f.schedule`,
    JSON.stringify(schedules),
    node,
    firesAt,
    node,
  );
  return fires.map((f) => insertRun(db, unwrittenFireRun(unwrittenFireFromRow(f), node, 'queued', now, null)));
}

export function cancelRunTx(db: SqliteDb, runId: number, reason: string, now: number): Run {
  const row = db.get(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`, runId);
  if (!row) throw new NotFoundError('run', String(runId));
  const run = runFromRow(row);
  if (run.status === 'queued') {
    return runFromRow(
      db.get(`UPDATE runs SET status = 'cancelled', finished_at = ?, reason = ? WHERE id = ? RETURNING ${RUN_COLUMNS}`, now, reason, runId)!,
    );
  }
  if (run.status === 'running') {
    return runFromRow(db.get(`UPDATE runs SET cancel_requested = 1, reason = ? WHERE id = ? RETURNING ${RUN_COLUMNS}`, reason, runId)!);
  }
  if ((FINAL_STATUSES as readonly string[]).includes(run.status)) {
    throw new ConflictError(`run ${runId} is already ${run.status}: only queued or running runs can be cancelled`);
  }
  return run;
}
