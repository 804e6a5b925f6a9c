import { NotFoundError } from '../../errors.js';
import { listNodesSql, nodeFromRow, num, type Row } from '../rows.js';
import type { HeartbeatRequest, HeartbeatResult, NodeInfo, NodeRecord, PlannedMark, Run, RunOutput } from '../types.js';
import { insertDeferredRuns } from './fires.js';
import { preparedRows, type PgDb, type Q } from './db.js';

// Skew ($9) and executing ($11) are kept as they were when the caller does not say (a registration).
// The node's unwritten runs reach back to $13 (HeartbeatRequest.deferred) only under epoch $12:
// a node that does not know the epoch has moved cannot undo the sweep that moved it.
const UPSERT_NODE = `INSERT INTO nodes (name, host, pid, version, tasks, tags, started_at, heartbeat_at, clock_skew_ms, scheduler, executing)
  VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7, $8, coalesce($9, 0), $10, $11)
  ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version, tasks = excluded.tasks,
    tags = excluded.tags, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, scheduler = excluded.scheduler,
    clock_skew_ms = coalesce($9, nodes.clock_skew_ms), executing = coalesce($11, nodes.executing),
    deferred_since = CASE WHEN nodes.defer_epoch = $12::int4 THEN $13::int8 ELSE nodes.deferred_since END
  RETURNING draining, defer_epoch`;

/**
 * Of the runs the node says it holds ($3), those still `running` on it get a new lease when theirs
 * ends before $4; what comes back is only what the node must act on: the ones with a cancel
 * requested (`cancel`) and the ones no longer its own (not `cancel`). A busy node holds tens of
 * thousands: reading every one back cost its event loop ~20 ms of parsing at each beat.
 * One round trip: `held` reads the rows as they were before the UPDATE, which changes neither
 * the status, the node nor the flag.
 * A run whose row another transaction holds is passed over (SKIP LOCKED), not waited for: it is
 * being finished, swept or cancelled right now, or else the next beat renews it. Waiting, the
 * beat took row locks in another order than a batch of results taking the same rows: under load
 * the two deadlocked, PostgreSQL gave up one of them after a second, and a node whose beats kept
 * failing was taken for dead by its peers, every run it held swept lost.
 * Each row is locked through the primary key, one per held run (the LATERAL join), and checked
 * as it is once locked (OFFSET 0 keeps the checks out of the locking scan): joined plainly, or
 * with the checks pushed into the scan, a table not analyzed yet was planned as a scan of every
 * run the node holds for each one, minutes for 24,000.
 */
export const RENEW_LEASES = `WITH held AS (
    SELECT id, cancel_requested, lease_until FROM runs WHERE node = $2 AND status = 'running' AND id = ANY($3::int8[])),
  due AS (
    SELECT l.id FROM held, LATERAL (SELECT r.id, r.node, r.status FROM runs r WHERE r.id = held.id FOR UPDATE SKIP LOCKED OFFSET 0) l
    WHERE held.lease_until < $4 AND l.node = $2 AND l.status = 'running'),
  renewed AS (UPDATE runs r SET lease_until = $1 FROM due WHERE r.id = due.id)
  SELECT id, true AS cancel FROM held WHERE cancel_requested
  UNION ALL
  SELECT u.id, false FROM unnest($3::int8[]) AS u(id) WHERE NOT EXISTS (SELECT 1 FROM held WHERE held.id = u.id)`;

/** Node registry and heartbeats on PostgreSQL; PostgresStore delegates here. */
export class PgNodes {
  constructor(private readonly db: PgDb) {}

  async register(info: NodeInfo, now: number): Promise<void> {
    await upsertNode(this.db.pool, info, now, null, null);
  }

  /** Re-registers the node, renews the leases of the runs it still holds, and says what to stop. */
  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult> {
    return this.db.tx(async (c) => {
      // The leases first: the node's row, once written, stays locked until COMMIT, and the
      // scheduler's mark (markPlanned) waits on it; renewing tens of thousands of runs held
      // ahead takes hundreds of milliseconds.
      // The ids as one array literal: pg builds one from a JS array element by element, and a busy
      // node's beat carries tens of thousands of them.
      const ids = `{${req.runIds.join(',')}}`;
      const answer = await preparedRows(c, RENEW_LEASES, [req.now + req.leaseMs, req.node.name, ids, req.renewBefore ?? Number.MAX_SAFE_INTEGER]);
      const node = await upsertNode(c, req.node, req.now, req.clockSkewMs, req.executing ?? null, req.deferred);
      const deferEpoch = Number(node.defer_epoch);
      // The node's row is now locked until COMMIT: no sweep moves the epoch between this check and the writes.
      const write = req.deferred?.epoch === deferEpoch ? req.deferred.write : [];
      const written = await insertDeferredRuns(
        c,
        write.map((r) => {
          const run: Run & RunOutput = { ...r, status: 'running', node: req.node.name, leaseUntil: req.now + req.leaseMs, stdout: '', stderr: '' };
          delete run.deferred;
          return run;
        }),
        'running',
      );
      const idsWhere = (cancel: boolean): number[] => answer.filter((r) => r.cancel === cancel).map((r) => num(r.id)).sort((a, b) => a - b);
      return {
        cancel: idsWhere(true),
        revoked: idsWhere(false),
        draining: node.draining === true,
        deferEpoch,
        ...(req.deferred && { written }),
      };
    });
  }

  async list(counts: boolean): Promise<NodeRecord[]> {
    return (await this.db.query(listNodesSql(counts))).map((r) => nodeFromRow(r, counts ? num(r.running) : null));
  }

  async setDraining(node: string, draining: boolean): Promise<void> {
    const r = await this.db.pool.query('UPDATE nodes SET draining = $2 WHERE name = $1', [node, draining]);
    if (r.rowCount === 0) throw new NotFoundError('node', node);
  }

  async markPlanned(node: string, mark: PlannedMark): Promise<void> {
    await this.db.pool.query('UPDATE nodes SET planned_through = $2, planned_view = $3, planned_at = $4 WHERE name = $1', [node, mark.through, mark.view, mark.at]);
  }

  async deregister(node: string, _now: number): Promise<void> {
    await this.db.pool.query('DELETE FROM nodes WHERE name = $1', [node]);
  }
}

async function upsertNode(c: Q, info: NodeInfo, now: number, skew: number | null, executing: number | null, deferred?: HeartbeatRequest['deferred']): Promise<Row> {
  const { rows: [row] } = await c.query(UPSERT_NODE, [
    info.name, info.host, info.pid, info.version, info.tasks, info.tags, info.startedAt, now, skew, info.scheduler ?? true, executing,
    deferred?.epoch ?? null, deferred?.since ?? null,
  ]);
  return row as Row;
}
