import { NotFoundError } from '../../errors.js';
import { listNodesSql, nodeFromRow, num } from '../rows.js';
import type { HeartbeatRequest, HeartbeatResult, NodeInfo, NodeRecord, PlannedMark } from '../types.js';
import { jsonList, type SqliteDb } from './db.js';

// Executing is kept as it was when the caller does not say (a registration).
const UPSERT_NODE = `INSERT INTO nodes (name, host, pid, version, tasks, tags, started_at, heartbeat_at, clock_skew_ms, scheduler, executing)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version, tasks = excluded.tasks,
    tags = excluded.tags, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, clock_skew_ms = excluded.clock_skew_ms,
    scheduler = excluded.scheduler, executing = coalesce(excluded.executing, nodes.executing)`;

/** Node registry and heartbeats on SQLite; SqliteStore delegates here. */
export class SqliteNodes {
  constructor(private readonly sql: SqliteDb) {}

  register(info: NodeInfo, now: number): void {
    this.sql.write(() => this.upsert(info, now, null, null));
  }

  /** Re-registers the node, renews the leases of the runs it still holds, and says what to stop. */
  heartbeat(req: HeartbeatRequest): HeartbeatResult {
    return this.sql.write(() => {
      this.upsert(req.node, req.now, req.clockSkewMs, req.executing ?? null);
      const ids = jsonList(req.runIds);
      this.sql.run(
        "UPDATE runs SET lease_until = ? WHERE node = ? AND status = 'running' AND id IN (SELECT value FROM json_each(?)) AND lease_until < ?",
        req.now + req.leaseMs,
        req.node.name,
        ids,
        req.renewBefore ?? Number.MAX_SAFE_INTEGER,
      );
      const renewed = this.sql.all<{ id: number; cancel_requested: number }>(
        "SELECT id, cancel_requested FROM runs WHERE node = ? AND status = 'running' AND id IN (SELECT value FROM json_each(?))",
        req.node.name,
        ids,
      );
      const mine = new Set(renewed.map((r) => r.id));
      const draining = this.sql.get<{ draining: number }>('SELECT draining FROM nodes WHERE name = ?', req.node.name);
      return {
        cancel: renewed.filter((r) => r.cancel_requested === 1).map((r) => r.id).sort((a, b) => a - b),
        revoked: req.runIds.filter((id) => !mine.has(id)),
        draining: draining?.draining === 1,
      };
    });
  }

  markPlanned(node: string, mark: PlannedMark): void {
    this.sql.write(() => this.sql.run('UPDATE nodes SET planned_through = ?, planned_view = ?, planned_at = ? WHERE name = ?', mark.through, mark.view, mark.at, node));
  }

  list(counts: boolean): NodeRecord[] {
    return this.sql.all(listNodesSql(counts)).map((r) => nodeFromRow(r, counts ? num(r.running) : null));
  }

  setDraining(node: string, draining: boolean): void {
    if (this.sql.run('UPDATE nodes SET draining = ? WHERE name = ?', draining, node).changes === 0) throw new NotFoundError('node', node);
  }

  deregister(node: string): void {
    this.sql.run('DELETE FROM nodes WHERE name = ?', node);
  }

  private upsert(info: NodeInfo, now: number, skew: number | null, executing: number | null): void {
    const existing = this.sql.get('SELECT clock_skew_ms FROM nodes WHERE name = ?', info.name);
    const clockSkew = skew ?? (existing ? num(existing.clock_skew_ms) : 0);
    this.sql.run(UPSERT_NODE, info.name, info.host, info.pid, info.version, jsonList(info.tasks), jsonList(info.tags), info.startedAt, now, clockSkew, info.scheduler === false ? 0 : 1, executing);
  }
}
