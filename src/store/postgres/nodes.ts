import { NotFoundError } from '../../errors.js';
import { listNodesSql, nodeFromRow, num } from '../rows.js';
import type { HeartbeatRequest, HeartbeatResult, NodeInfo, NodeRecord, PlannedMark } from '../types.js';
import { rows, type PgDb, type Q } from './db.js';

// Skew ($9) and executing ($11) are kept as they were when the caller does not say (a registration).
const UPSERT_NODE = `INSERT INTO nodes (name, host, pid, version, tasks, tags, started_at, heartbeat_at, clock_skew_ms, scheduler, executing)
  VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7, $8, coalesce($9, 0), $10, $11)
  ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version, tasks = excluded.tasks,
    tags = excluded.tags, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, scheduler = excluded.scheduler,
    clock_skew_ms = coalesce($9, nodes.clock_skew_ms), executing = coalesce($11, nodes.executing)`;

/**
 * The node's runs still `running` on it, with their cancel flags; those whose lease ends before
 * $4 get a new one. One round trip: the SELECT reads the rows as they were before the UPDATE,
 * which changes neither the status, the node nor the flag.
 */
const RENEW_LEASES = `WITH held AS (
    SELECT id, cancel_requested, lease_until FROM runs WHERE node = $2 AND status = 'running' AND id = ANY($3::int8[])),
  renewed AS (UPDATE runs r SET lease_until = $1 FROM held WHERE r.id = held.id AND held.lease_until < $4)
  SELECT id, cancel_requested FROM held`;

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
      const renewed = await rows(c, RENEW_LEASES, [req.now + req.leaseMs, req.node.name, req.runIds, req.renewBefore ?? Number.MAX_SAFE_INTEGER]);
      await upsertNode(c, req.node, req.now, req.clockSkewMs, req.executing ?? null);
      const mine = new Set(renewed.map((r) => num(r.id)));
      const [node] = await rows(c, 'SELECT draining FROM nodes WHERE name = $1', [req.node.name]);
      return {
        cancel: renewed.filter((r) => r.cancel_requested === true).map((r) => num(r.id)).sort((a, b) => a - b),
        revoked: req.runIds.filter((id) => !mine.has(id)),
        draining: node?.draining === true,
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

async function upsertNode(c: Q, info: NodeInfo, now: number, skew: number | null, executing: number | null): Promise<void> {
  await c.query(UPSERT_NODE, [info.name, info.host, info.pid, info.version, info.tasks, info.tags, info.startedAt, now, skew, info.scheduler ?? true, executing]);
}
