import { ConfigError, ConflictError, NotFoundError } from '../../errors.js';
import { decideLease, leaseStateFromRow } from '../lease-rule.js';
import {
  RUN_COLUMNS,
  SCHEDULE_SPEC_COLUMNS,
  bothSources,
  leaseFromRow,
  num,
  runFromRow,
  sameSpec,
  scheduleFromRow,
  scheduleSpecValues,
  storableOutput,
} from '../rows.js';
import { runFilterSql } from '../run-filter.js';
import type { Store } from '../store.js';
import type {
  ApiToken,
  AuditEntry,
  AuditFilter,
  ClaimRequest,
  CreatedFire,
  ExternalRunRequest,
  FinishRequest,
  FireBatchResult,
  FinishResult,
  FireOptions,
  FirePlan,
  HeartbeatRequest,
  HeartbeatResult,
  Lease,
  LeaseRequest,
  NodeInfo,
  ListNodesOptions,
  NodeRecord,
  PlannedMark,
  NewApiToken,
  NewAuditEntry,
  PruneRequest,
  PruneResult,
  Run,
  RunFilter,
  RunOutput,
  Schedule,
  ScheduleSpec,
  SyncResult,
} from '../types.js';
import { QueuedWatchers } from '../watchers.js';
import { SqliteAccess } from './access.js';
import { SqliteNodes } from './nodes.js';
import { SqliteDb } from './db.js';
import { createDueFiresTx, insertRun, triggerScheduleTx } from './fires.js';
import { externalRun } from '../retry.js';
import { cancelRunTx, claimRunsTx, finishRunTx, nextQueuedAt, recoverNodeRunsTx, requeueUnansweredTx, sweepLostRunsTx } from './runs.js';

const INSERT_SCHEDULE = `INSERT INTO schedules (name, ${SCHEDULE_SPEC_COLUMNS.join(', ')}, source, enabled, paused, cursor, created_at, updated_at)
  VALUES (?, ${SCHEDULE_SPEC_COLUMNS.map(() => '?').join(', ')}, ?, 1, 0, ?, ?, ?)`;
const UPDATE_SCHEDULE = `UPDATE schedules SET ${SCHEDULE_SPEC_COLUMNS.map((c) => `${c} = ?`).join(', ')}, enabled = 1, cursor = ?, updated_at = ? WHERE name = ?`;

/**
 * The embedded store: one SQLite file in WAL mode. better-sqlite3 is synchronous; each method
 * does its work in one call (one immediate transaction for writes) behind the async interface.
 * Several processes may open the same file: SQLite's write lock serializes them.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly watchers = new QueuedWatchers();

  private readonly access: SqliteAccess;
  private readonly nodes: SqliteNodes;

  constructor(private readonly sql: SqliteDb) {
    this.access = new SqliteAccess(sql);
    this.nodes = new SqliteNodes(sql);
  }

  static open(file: string): SqliteStore {
    return new SqliteStore(new SqliteDb(file));
  }

  async migrate(): Promise<void> {
    this.sql.migrate(Date.now());
  }

  async close(): Promise<void> {
    this.sql.close();
  }

  /** One machine: its clock is the store's. */
  async clockNow(): Promise<number> {
    return Date.now();
  }

  // --- schedules -----------------------------------------------------------------------------

  async syncConfigSchedules(specs: ScheduleSpec[], now: number): Promise<SyncResult> {
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name)) throw new ConfigError('schedules', `schedule name "${s.name}" appears twice: expected unique names`);
      names.add(s.name);
    }
    return this.sql.write(() => {
      const result: SyncResult = { added: [], updated: [], disabled: [] };
      const existing = new Map(this.sql.all('SELECT * FROM schedules').map((r) => [String(r.name), scheduleFromRow(r)]));
      for (const spec of specs) {
        const e = existing.get(spec.name);
        if (!e) {
          this.sql.run(INSERT_SCHEDULE, spec.name, ...scheduleSpecValues(spec), 'config', now, now, now);
          result.added.push(spec.name);
        } else if (e.source === 'api') {
          throw bothSources(spec.name);
        } else if (!e.enabled || !sameSpec(e, spec)) {
          // Re-enabling starts from now, like resuming: the time it was disabled is not replayed.
          this.sql.run(UPDATE_SCHEDULE, ...scheduleSpecValues(spec), e.enabled ? e.cursor : now, now, spec.name);
          result.updated.push(spec.name);
        }
      }
      for (const e of existing.values()) {
        if (e.source === 'config' && e.enabled && !names.has(e.name)) {
          this.sql.run('UPDATE schedules SET enabled = 0, updated_at = ? WHERE name = ?', now, e.name);
          result.disabled.push(e.name);
        }
      }
      return result;
    });
  }

  async putApiSchedule(spec: ScheduleSpec, now: number): Promise<Schedule> {
    return this.sql.write(() => {
      const row = this.sql.get('SELECT * FROM schedules WHERE name = ?', spec.name);
      if (!row) {
        this.sql.run(INSERT_SCHEDULE, spec.name, ...scheduleSpecValues(spec), 'api', now, now, now);
      } else {
        const e = scheduleFromRow(row);
        if (e.source === 'config') throw new ConflictError(`schedule "${spec.name}" comes from the config: change it there`);
        this.sql.run(UPDATE_SCHEDULE, ...scheduleSpecValues(spec), e.cursor, now, spec.name);
      }
      return scheduleFromRow(this.sql.get('SELECT * FROM schedules WHERE name = ?', spec.name)!);
    });
  }

  async deleteApiSchedule(name: string): Promise<void> {
    this.sql.write(() => {
      const row = this.sql.get('SELECT source FROM schedules WHERE name = ?', name);
      if (!row) throw new NotFoundError('schedule', name);
      if (row.source === 'config') throw new ConflictError(`schedule "${name}" comes from the config: remove it there`);
      this.sql.run('DELETE FROM schedules WHERE name = ?', name);
    });
  }

  async listSchedules(): Promise<Schedule[]> {
    return this.sql.all('SELECT * FROM schedules ORDER BY name').map(scheduleFromRow);
  }

  async schedulesRevision(): Promise<number> {
    return num(this.sql.get('SELECT revision FROM schedule_revision WHERE id = 1')!.revision);
  }

  async getSchedule(name: string): Promise<Schedule | null> {
    const row = this.sql.get('SELECT * FROM schedules WHERE name = ?', name);
    return row ? scheduleFromRow(row) : null;
  }

  async setPaused(name: string, paused: boolean, now: number): Promise<Schedule> {
    return this.sql.write(() => {
      const row = this.sql.get('SELECT * FROM schedules WHERE name = ?', name);
      if (!row) throw new NotFoundError('schedule', name);
      const s = scheduleFromRow(row);
      if (s.paused !== paused) {
        const cursor = paused ? s.cursor : now;
        this.sql.run('UPDATE schedules SET paused = ?, cursor = ?, updated_at = ? WHERE name = ?', paused, cursor, now, name);
      }
      return scheduleFromRow(this.sql.get('SELECT * FROM schedules WHERE name = ?', name)!);
    });
  }

  // --- fires ---------------------------------------------------------------------------------

  async createDueFires(plans: FirePlan[], opts: FireOptions): Promise<FireBatchResult> {
    if (plans.length === 0) return { applied: [], stale: [], fires: [] };
    const result = this.sql.write(() => createDueFiresTx(this.sql, plans, opts));
    this.notifyIfQueued(result.fires.flatMap((f) => f.runs));
    return result;
  }

  async triggerSchedule(name: string, opts: FireOptions): Promise<CreatedFire> {
    const fire = this.sql.write(() => triggerScheduleTx(this.sql, name, opts));
    this.notifyIfQueued(fire.runs);
    return fire;
  }

  // --- runs ----------------------------------------------------------------------------------

  async claimRuns(req: ClaimRequest): Promise<Run[]> {
    return this.sql.write(() => claimRunsTx(this.sql, req));
  }

  async startExternalRun(req: ExternalRunRequest): Promise<Run> {
    return this.sql.write(() => insertRun(this.sql, externalRun(req)));
  }

  async setRunLogPath(runId: number, path: string): Promise<void> {
    if (this.sql.run('UPDATE runs SET log_path = ? WHERE id = ?', path, runId).changes === 0) throw new NotFoundError('run', String(runId));
  }

  async updateRunOutput(runId: number, output: RunOutput): Promise<void> {
    const { stdout, stderr } = storableOutput(output);
    const r = this.sql.run('UPDATE runs SET stdout = ?, stderr = ? WHERE id = ?', stdout, stderr, runId);
    if (r.changes === 0) throw new NotFoundError('run', String(runId));
  }

  async finishRun(req: FinishRequest): Promise<FinishResult> {
    return (await this.finishRuns([req]))[0]!;
  }

  async finishRuns(reqs: FinishRequest[]): Promise<FinishResult[]> {
    if (reqs.length === 0) return [];
    const results = this.sql.write(() => reqs.map((req) => finishRunTx(this.sql, req)));
    if (results.some((r) => r.retry)) this.watchers.notify();
    return results;
  }

  async cancelRun(runId: number, reason: string, now: number): Promise<Run> {
    return this.sql.write(() => cancelRunTx(this.sql, runId, reason, now));
  }

  async getRun(runId: number): Promise<Run | null> {
    const row = this.sql.get(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`, runId);
    return row ? runFromRow(row) : null;
  }

  async getRunOutput(runId: number): Promise<RunOutput | null> {
    const row = this.sql.get<{ stdout: string; stderr: string }>('SELECT stdout, stderr FROM runs WHERE id = ?', runId);
    return row ? { stdout: row.stdout, stderr: row.stderr } : null;
  }

  async listRuns(filter: RunFilter): Promise<Run[]> {
    const { where, params, limit } = runFilterSql(filter, 'sqlite');
    const rows = this.sql.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs ${where} ORDER BY id DESC LIMIT ?`).all(...params, limit);
    return (rows as Array<Record<string, unknown>>).map(runFromRow);
  }

  async nextQueuedAt(node: string, tasks: string[], tags: string[]): Promise<number | null> {
    return nextQueuedAt(this.sql, node, tasks, tags);
  }

  watchQueued(fn: () => void): () => void {
    return this.watchers.add(fn);
  }

  async sweepLostRuns(now: number, nodeTtlMs: number): Promise<Run[]> {
    const { lost, retries } = this.sql.write(() => sweepLostRunsTx(this.sql, now, nodeTtlMs));
    if (retries.length) this.watchers.notify();
    return lost;
  }

  async recoverNodeRuns(node: string, now: number): Promise<Run[]> {
    const { lost, retries } = this.sql.write(() => recoverNodeRunsTx(this.sql, node, now));
    if (retries.length) this.watchers.notify();
    return lost;
  }

  async requeueUnanswered(node: string, firesAt: number, schedules: string[], now: number): Promise<Run[]> {
    const queued = this.sql.write(() => requeueUnansweredTx(this.sql, node, firesAt, schedules, now));
    if (queued.length) this.watchers.notify();
    return queued;
  }

  // --- nodes ---------------------------------------------------------------------------------

  async registerNode(info: NodeInfo, now: number): Promise<void> {
    this.nodes.register(info, now);
  }

  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult> {
    return this.nodes.heartbeat(req);
  }

  async listNodes(opts: ListNodesOptions = {}): Promise<NodeRecord[]> {
    return this.nodes.list(opts.counts ?? true);
  }

  async setDraining(node: string, draining: boolean): Promise<void> {
    this.nodes.setDraining(node, draining);
  }

  async markPlanned(node: string, mark: PlannedMark): Promise<void> {
    this.nodes.markPlanned(node, mark);
  }

  async deregisterNode(node: string, _now: number): Promise<void> {
    this.nodes.deregister(node);
  }

  // --- leases --------------------------------------------------------------------------------

  async acquireLease(req: LeaseRequest): Promise<Lease> {
    return this.sql.write(() => {
      const row = this.sql.get('SELECT * FROM leases WHERE name = ?', req.name);
      const { state, held } = decideLease(row ? leaseStateFromRow(row) : null, req);
      this.sql.run(
        `INSERT INTO leases (name, holder, fence, expires_at, priority, contender, contender_priority, contender_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, fence = excluded.fence, expires_at = excluded.expires_at,
           priority = excluded.priority, contender = excluded.contender, contender_priority = excluded.contender_priority,
           contender_seen_at = excluded.contender_seen_at`,
        state.name,
        state.holder,
        state.fence,
        state.expiresAt,
        state.priority,
        state.contender,
        state.contenderPriority,
        state.contenderSeenAt,
      );
      return { name: state.name, holder: state.holder, fence: state.fence, expiresAt: state.expiresAt, held };
    });
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.sql.run('UPDATE leases SET holder = NULL WHERE name = ? AND holder = ?', name, holder);
  }

  async getLease(name: string): Promise<Lease | null> {
    const row = this.sql.get('SELECT * FROM leases WHERE name = ?', name);
    return row ? leaseFromRow(row, row.holder !== null) : null;
  }

  // --- API access and retention ---------------------------------------------------------------

  async createToken(token: NewApiToken): Promise<ApiToken> {
    return this.access.createToken(token);
  }

  async findToken(hash: string): Promise<ApiToken | null> {
    return this.access.findToken(hash);
  }

  async listTokens(): Promise<ApiToken[]> {
    return this.access.listTokens();
  }

  async revokeToken(name: string, now: number): Promise<ApiToken> {
    return this.access.revokeToken(name, now);
  }

  async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.access.appendAudit(entry);
  }

  async listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    return this.access.listAudit(filter);
  }

  async pruneRuns(req: PruneRequest): Promise<PruneResult> {
    return this.access.pruneRuns(req);
  }

  private notifyIfQueued(runs: Run[]): void {
    if (runs.some((r) => r.status === 'queued')) this.watchers.notify();
  }
}
