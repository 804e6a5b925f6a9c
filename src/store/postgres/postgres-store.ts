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
  FinishResult,
  FireBatchResult,
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
import { PgAccess } from './access.js';
import { PgDb, rows, type Q } from './db.js';
import { createDueFiresTx, insertRuns, triggerScheduleTx } from './fires.js';
import { externalRun } from '../retry.js';
import { PgListener } from './listener.js';
import { PgNodes } from './nodes.js';
import { cancelRunTx, claimRuns, finishRunsTx, nextQueuedAt, recoverNodeRunsTx, requeueUnansweredTx, sweepLostRunsTx } from './runs.js';

const SPEC_PARAMS = SCHEDULE_SPEC_COLUMNS.map((_, i) => `$${i + 2}`).join(', ');
const INSERT_SCHEDULE = `INSERT INTO schedules (name, ${SCHEDULE_SPEC_COLUMNS.join(', ')}, source, enabled, paused, cursor, created_at, updated_at)
  VALUES ($1, ${SPEC_PARAMS}, $14, true, false, $15, $16, $16)`;
// Column types of the spec values, in SCHEDULE_SPEC_COLUMNS order, for inserting many at once.
const SPEC_ARRAY_TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'int4', 'int4', 'int8', 'int8', 'int8'];
const INSERT_SCHEDULES = `INSERT INTO schedules (name, ${SCHEDULE_SPEC_COLUMNS.join(', ')}, source, enabled, paused, cursor, created_at, updated_at)
  SELECT *, 'config', true, false, $14::int8, $14::int8, $14::int8
  FROM unnest($1::text[], ${SPEC_ARRAY_TYPES.map((t, i) => `$${i + 2}::${t}[]`).join(', ')})`;
const UPDATE_SCHEDULE = `UPDATE schedules SET ${SCHEDULE_SPEC_COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(', ')},
  enabled = true, cursor = $14, updated_at = $15 WHERE name = $1`;
/** Spec values of many schedules, one array per column (for the unnest statements). */
function specColumns(list: ScheduleSpec[]): unknown[][] {
  const values = list.map(scheduleSpecValues);
  return SCHEDULE_SPEC_COLUMNS.map((_, i) => values.map((v) => v[i]));
}
// Many at once, each with its own cursor: $1 names, then the spec columns, $14 cursors, $15 now.
const UPDATE_SCHEDULES = `UPDATE schedules s SET ${SCHEDULE_SPEC_COLUMNS.map((c) => `${c} = x.${c}`).join(', ')},
  enabled = true, cursor = x.cursor, updated_at = $15::int8
  FROM unnest($1::text[], ${SPEC_ARRAY_TYPES.map((t, i) => `$${i + 2}::${t}[]`).join(', ')}, $14::int8[])
    AS x(name, ${SCHEDULE_SPEC_COLUMNS.join(', ')}, cursor)
  WHERE s.name = x.name`;

/**
 * The cluster store: a pg Pool working in one schema. Fires and claims are guarded by row locks
 * (FOR UPDATE, SKIP LOCKED) and unique keys, so any number of nodes may call at once; queued
 * runs wake other nodes through NOTIFY on a per-schema channel.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly watchers = new QueuedWatchers();
  private listener: PgListener | null = null;

  private readonly access: PgAccess;
  private readonly nodes: PgNodes;

  constructor(private readonly db: PgDb) {
    this.access = new PgAccess(db);
    this.nodes = new PgNodes(db);
  }

  static open(url: string, schema = 'public'): PostgresStore {
    return new PostgresStore(new PgDb(url, schema));
  }

  get schema(): string {
    return this.db.schema;
  }

  async migrate(): Promise<void> {
    await this.db.migrate(await this.clockNow());
  }

  async close(): Promise<void> {
    const l = this.listener;
    this.listener = null;
    if (l) await l.stop();
    await this.db.close();
  }

  async clockNow(): Promise<number> {
    const [row] = await this.db.query('SELECT (extract(epoch from clock_timestamp()) * 1000)::int8 AS now');
    return num(row!.now);
  }

  // --- schedules -----------------------------------------------------------------------------

  async syncConfigSchedules(specs: ScheduleSpec[], now: number): Promise<SyncResult> {
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name)) throw new ConfigError('schedules', `schedule name "${s.name}" appears twice: expected unique names`);
      names.add(s.name);
    }
    return this.db.tx(async (c) => {
      // Row locks cover existing schedules only: nodes starting together on an empty table would
      // all insert the same names. One sync at a time per schema.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`cronfleet.sync.${this.db.schema}`]);
      const result: SyncResult = { added: [], updated: [], disabled: [] };
      const existing = new Map(
        (await rows(c, 'SELECT * FROM schedules ORDER BY name FOR UPDATE')).map((r) => [String(r.name), scheduleFromRow(r)]),
      );
      const added: ScheduleSpec[] = [];
      const changed: Array<{ spec: ScheduleSpec; cursor: number | null }> = [];
      for (const spec of specs) {
        const e = existing.get(spec.name);
        if (!e) {
          added.push(spec);
          result.added.push(spec.name);
        } else if (e.source === 'api') {
          throw bothSources(spec.name);
        } else if (!e.enabled || !sameSpec(e, spec)) {
          // Re-enabling starts from now, like resuming: the time it was disabled is not replayed.
          changed.push({ spec, cursor: e.enabled ? e.cursor : now });
          result.updated.push(spec.name);
        }
      }
      // One statement each for all changed, all new and all removed schedules: a start after a
      // change to 10,000 of them (a new default zone) took 4.2 s here one statement per schedule.
      if (changed.length) {
        await c.query(UPDATE_SCHEDULES, [changed.map((x) => x.spec.name), ...specColumns(changed.map((x) => x.spec)), changed.map((x) => x.cursor), now]);
      }
      if (added.length) {
        try {
          await c.query(INSERT_SCHEDULES, [added.map((a) => a.name), ...specColumns(added), now]);
        } catch (err) {
          // A name new to this sync that an API put inserted meanwhile (its row was not there to
          // lock when the sync began): the same conflict as when the sync finds it.
          const { code, detail } = err as { code?: string; detail?: string };
          const taken = code === '23505' ? /\(name\)=\((.*)\) already exists/.exec(detail ?? '') : null;
          throw taken ? bothSources(taken[1]!) : err;
        }
      }
      for (const e of existing.values()) {
        if (e.source === 'config' && e.enabled && !names.has(e.name)) result.disabled.push(e.name);
      }
      if (result.disabled.length) {
        await c.query('UPDATE schedules SET enabled = false, updated_at = $2 WHERE name = ANY($1::text[])', [result.disabled, now]);
      }
      return result;
    });
  }

  async putApiSchedule(spec: ScheduleSpec, now: number): Promise<Schedule> {
    return this.db.tx(async (c) => {
      // Serializes two puts of a new name: the second waits and then sees the first's row.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`cronfleet.schedule.${spec.name}`]);
      const [row] = await rows(c, 'SELECT * FROM schedules WHERE name = $1 FOR UPDATE', [spec.name]);
      if (!row) {
        await c.query(INSERT_SCHEDULE, [spec.name, ...scheduleSpecValues(spec), 'api', now, now]);
      } else {
        const e = scheduleFromRow(row);
        if (e.source === 'config') throw new ConflictError(`schedule "${spec.name}" comes from the config: change it there`);
        await c.query(UPDATE_SCHEDULE, [spec.name, ...scheduleSpecValues(spec), e.cursor, now]);
      }
      const [after] = await rows(c, 'SELECT * FROM schedules WHERE name = $1', [spec.name]);
      return scheduleFromRow(after!);
    });
  }

  async deleteApiSchedule(name: string): Promise<void> {
    await this.db.tx(async (c) => {
      const [row] = await rows(c, 'SELECT source FROM schedules WHERE name = $1 FOR UPDATE', [name]);
      if (!row) throw new NotFoundError('schedule', name);
      if (row.source === 'config') throw new ConflictError(`schedule "${name}" comes from the config: remove it there`);
      await c.query('DELETE FROM schedules WHERE name = $1', [name]);
    });
  }

  async listSchedules(): Promise<Schedule[]> {
    return (await this.db.query('SELECT * FROM schedules ORDER BY name')).map(scheduleFromRow);
  }

  async schedulesRevision(): Promise<number> {
    const [row] = await this.db.query('SELECT revision FROM schedule_revision WHERE id = 1');
    return num(row!.revision);
  }

  async getSchedule(name: string): Promise<Schedule | null> {
    const [row] = await this.db.query('SELECT * FROM schedules WHERE name = $1', [name]);
    return row ? scheduleFromRow(row) : null;
  }

  async setPaused(name: string, paused: boolean, now: number): Promise<Schedule> {
    return this.db.tx(async (c) => {
      const [row] = await rows(c, 'SELECT * FROM schedules WHERE name = $1 FOR UPDATE', [name]);
      if (!row) throw new NotFoundError('schedule', name);
      const s = scheduleFromRow(row);
      if (s.paused === paused) return s;
      const [after] = await rows(c, 'UPDATE schedules SET paused = $2, cursor = $3, updated_at = $4 WHERE name = $1 RETURNING *', [
        name,
        paused,
        paused ? s.cursor : now,
        now,
      ]);
      return scheduleFromRow(after!);
    });
  }

  // --- fires ---------------------------------------------------------------------------------

  async createDueFires(plans: FirePlan[], opts: FireOptions): Promise<FireBatchResult> {
    if (plans.length === 0) return { applied: [], stale: [], fires: [] };
    const result = await this.db.tx(async (c) => {
      const r = await createDueFiresTx(c, plans, opts);
      await this.notifyInTx(c, r.fires.flatMap((f) => f.runs));
      return r;
    });
    this.notifyLocal(result.fires.flatMap((f) => f.runs));
    return result;
  }

  async triggerSchedule(name: string, opts: FireOptions): Promise<CreatedFire> {
    const fire = await this.db.tx(async (c) => {
      const f = await triggerScheduleTx(c, name, opts);
      await this.notifyInTx(c, f.runs);
      return f;
    });
    this.notifyLocal(fire.runs);
    return fire;
  }

  // --- runs ----------------------------------------------------------------------------------

  async claimRuns(req: ClaimRequest): Promise<Run[]> {
    // One statement is atomic on its own: no explicit transaction needed.
    return claimRuns(this.db.pool, req);
  }

  async startExternalRun(req: ExternalRunRequest): Promise<Run> {
    const [run] = await this.db.tx((c) => insertRuns(c, [externalRun(req)]));
    return run!;
  }

  async setRunLogPath(runId: number, path: string): Promise<void> {
    const r = await this.db.pool.query('UPDATE runs SET log_path = $2 WHERE id = $1', [runId, path]);
    if (r.rowCount === 0) throw new NotFoundError('run', String(runId));
  }

  async updateRunOutput(runId: number, output: RunOutput): Promise<void> {
    const { stdout, stderr } = storableOutput(output);
    const r = await this.db.pool.query('UPDATE runs SET stdout = $2, stderr = $3 WHERE id = $1', [runId, stdout, stderr]);
    if (r.rowCount === 0) throw new NotFoundError('run', String(runId));
  }

  async finishRun(req: FinishRequest): Promise<FinishResult> {
    return (await this.finishRuns([req]))[0]!;
  }

  async finishRuns(reqs: FinishRequest[]): Promise<FinishResult[]> {
    if (reqs.length === 0) return [];
    const results = await this.db.tx(async (c) => {
      const out = await finishRunsTx(c, reqs);
      await this.notifyInTx(c, out.flatMap((r) => (r.retry ? [r.retry] : [])));
      return out;
    });
    this.notifyLocal(results.flatMap((r) => (r.retry ? [r.retry] : [])));
    return results;
  }

  async cancelRun(runId: number, reason: string, now: number): Promise<Run> {
    return this.db.tx((c) => cancelRunTx(c, runId, reason, now));
  }

  async getRun(runId: number): Promise<Run | null> {
    const [row] = await this.db.query(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [runId]);
    return row ? runFromRow(row) : null;
  }

  async getRunOutput(runId: number): Promise<RunOutput | null> {
    const [row] = await this.db.query('SELECT stdout, stderr FROM runs WHERE id = $1', [runId]);
    return row ? { stdout: String(row.stdout), stderr: String(row.stderr) } : null;
  }

  async listRuns(filter: RunFilter): Promise<Run[]> {
    const { where, params, limit } = runFilterSql(filter, 'postgres');
    const sql = `SELECT ${RUN_COLUMNS} FROM runs ${where} ORDER BY id DESC LIMIT $${params.length + 1}`;
    return (await this.db.query(sql, [...params, limit])).map(runFromRow);
  }

  async nextQueuedAt(node: string, tasks: string[], tags: string[]): Promise<number | null> {
    return nextQueuedAt(this.db.pool, node, tasks, tags);
  }

  watchQueued(fn: () => void): () => void {
    const stop = this.watchers.add(fn);
    if (!this.listener) {
      this.listener = new PgListener(this.db.url, this.db.channel, () => this.watchers.notify());
      this.listener.start();
    }
    return () => {
      stop();
      if (this.watchers.size === 0 && this.listener) {
        const l = this.listener;
        this.listener = null;
        void l.stop();
      }
    };
  }

  /** Resolves once other processes' NOTIFYs reach this store's watchers. */
  async listening(): Promise<void> {
    await this.listener?.ready;
  }

  async sweepLostRuns(now: number, nodeTtlMs: number): Promise<Run[]> {
    const { lost, retries } = await this.db.tx(async (c) => {
      const r = await sweepLostRunsTx(c, now, nodeTtlMs);
      await this.notifyInTx(c, r.retries);
      return r;
    });
    this.notifyLocal(retries);
    return lost;
  }

  async recoverNodeRuns(node: string, now: number): Promise<Run[]> {
    const { lost, retries } = await this.db.tx(async (c) => {
      const r = await recoverNodeRunsTx(c, node, now);
      await this.notifyInTx(c, r.retries);
      return r;
    });
    this.notifyLocal(retries);
    return lost;
  }

  async requeueUnanswered(node: string, firesAt: number, schedules: string[], now: number): Promise<Run[]> {
    const queued = await this.db.tx(async (c) => {
      const runs = await requeueUnansweredTx(c, node, firesAt, schedules, now);
      await this.notifyInTx(c, runs);
      return runs;
    });
    this.notifyLocal(queued);
    return queued;
  }

  // --- nodes ---------------------------------------------------------------------------------

  registerNode(info: NodeInfo, now: number): Promise<void> {
    return this.nodes.register(info, now);
  }

  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult> {
    return this.nodes.heartbeat(req);
  }

  listNodes(opts: ListNodesOptions = {}): Promise<NodeRecord[]> {
    return this.nodes.list(opts.counts ?? true);
  }

  setDraining(node: string, draining: boolean): Promise<void> {
    return this.nodes.setDraining(node, draining);
  }

  markPlanned(node: string, mark: PlannedMark): Promise<void> {
    return this.nodes.markPlanned(node, mark);
  }

  deregisterNode(node: string, now: number): Promise<void> {
    return this.nodes.deregister(node, now);
  }

  // --- leases --------------------------------------------------------------------------------

  async acquireLease(req: LeaseRequest): Promise<Lease> {
    return this.db.tx(async (c) => {
      const [row] = await rows(c, 'SELECT * FROM leases WHERE name = $1 FOR UPDATE', [req.name]);
      const { state, held } = decideLease(row ? leaseStateFromRow(row) : null, req);
      // ON CONFLICT covers two first-ever requests racing: the loser's insert becomes an update
      // of the winner's row only if it would still hold, which the WHERE re-checks.
      const written = await c.query(
        `INSERT INTO leases (name, holder, fence, expires_at, priority, contender, contender_priority, contender_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, fence = excluded.fence, expires_at = excluded.expires_at,
           priority = excluded.priority, contender = excluded.contender, contender_priority = excluded.contender_priority,
           contender_seen_at = excluded.contender_seen_at
         WHERE $9::boolean`,
        [state.name, state.holder, state.fence, state.expiresAt, state.priority, state.contender, state.contenderPriority, state.contenderSeenAt, row !== undefined],
      );
      if (written.rowCount === 0) {
        // Another node created the lease between our read and write: its tenure stands.
        const [now] = await rows(c, 'SELECT * FROM leases WHERE name = $1', [req.name]);
        return leaseFromRow(now!, false);
      }
      return { name: state.name, holder: state.holder, fence: state.fence, expiresAt: state.expiresAt, held };
    });
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.pool.query('UPDATE leases SET holder = NULL WHERE name = $1 AND holder = $2', [name, holder]);
  }

  async getLease(name: string): Promise<Lease | null> {
    const [row] = await this.db.query('SELECT * FROM leases WHERE name = $1', [name]);
    return row ? leaseFromRow(row, row.holder !== null) : null;
  }

  // --- API access and retention ---------------------------------------------------------------

  createToken(token: NewApiToken): Promise<ApiToken> {
    return this.access.createToken(token);
  }

  findToken(hash: string): Promise<ApiToken | null> {
    return this.access.findToken(hash);
  }

  listTokens(): Promise<ApiToken[]> {
    return this.access.listTokens();
  }

  revokeToken(name: string, now: number): Promise<ApiToken> {
    return this.access.revokeToken(name, now);
  }

  appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.access.appendAudit(entry);
  }

  listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    return this.access.listAudit(filter);
  }

  pruneRuns(req: PruneRequest): Promise<PruneResult> {
    return this.access.pruneRuns(req);
  }

  private async notifyInTx(c: Q, runs: Run[]): Promise<void> {
    // Delivered at commit, to every listener of the schema (this process's own included).
    if (runs.some((r) => r.status === 'queued')) await c.query('SELECT pg_notify($1, $2)', [this.db.channel, '']);
  }

  private notifyLocal(runs: Run[]): void {
    if (runs.some((r) => r.status === 'queued')) this.watchers.notify();
  }
}
