import type {
  ApiToken,
  AuditEntry,
  AuditFilter,
  ClaimRequest,
  CreatedFire,
  ExternalRunRequest,
  FireBatchResult,
  FinishRequest,
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
} from './types.js';

/**
 * Where schedules, fires, runs and nodes live. Domain operations only: callers never see SQL.
 * Every method that judges time takes `now` from the caller (who follows the store's clock via
 * `clockNow`), so tests can drive time and a cluster agrees on it.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';

  /** Applies pending numbered migrations (append-only). Idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** The store's own clock, the cluster's authority on time. */
  clockNow(): Promise<number>;

  // --- schedules ---------------------------------------------------------------------------

  /**
   * Config as code: adds new config schedules (cursor = now), updates changed ones (cursor kept),
   * disables config schedules not in `specs` (history kept). API schedules are untouched.
   */
  syncConfigSchedules(specs: ScheduleSpec[], now: number): Promise<SyncResult>;
  /** Creates or replaces a schedule made through the API. ConflictError if a config schedule has the name. */
  putApiSchedule(spec: ScheduleSpec, now: number): Promise<Schedule>;
  /** Deletes an API schedule (its runs are kept). ConflictError for config schedules, NotFoundError if absent. */
  deleteApiSchedule(name: string): Promise<void>;
  listSchedules(): Promise<Schedule[]>;
  /**
   * A number that changes whenever a schedule is added, removed, or changed in anything but its
   * cursor (spec, pause, enabled), by any process: a scheduler re-reads all schedules only when
   * it moved. Cursors move without changing it.
   */
  schedulesRevision(): Promise<number>;
  getSchedule(name: string): Promise<Schedule | null>;
  /** Pausing stops fires; resuming moves the cursor to `now` so the pause is not replayed. */
  setPaused(name: string, paused: boolean, now: number): Promise<Schedule>;

  // --- fires -------------------------------------------------------------------------------

  /**
   * Applies each plan in its own all-or-nothing step: moves the schedule's cursor from
   * `fromCursor` to `toCursor` and creates its fires, each unique by (schedule, scheduledAt).
   * A plan whose `fromCursor` no longer matches is not applied (another node got there first).
   * Runs are made per the schedule's target and concurrency policy: `all` gives one run per
   * live node offering the task; no live node offering it gives a `skipped` run with the reason;
   * `forbid` skips while a run of the schedule is queued or running; `replace` asks those to stop.
   */
  createDueFires(plans: FirePlan[], opts: FireOptions): Promise<FireBatchResult>;
  /** A manual fire at `now` ("run now"); same targeting as a scheduled one. */
  triggerSchedule(name: string, opts: FireOptions): Promise<CreatedFire>;

  // --- runs --------------------------------------------------------------------------------

  /**
   * Claims up to `limit` queued runs whose task the node offers, that are due (`notBefore <= now`)
   * and meant for it (no target, its name, or one of its tags), oldest first. Each becomes
   * `running`, owned by the node, with a lease until now + leaseMs. Never hands one run to two nodes.
   */
  claimRuns(req: ClaimRequest): Promise<Run[]>;
  /**
   * Records a run that no fire made (a gearman job run by `gearman-worker`): it starts `running`,
   * owned by `node`, and ends with finishRun like any other, so it shows in run listings.
   */
  startExternalRun(req: ExternalRunRequest): Promise<Run>;
  /** Where the full output of a claimed run is written. */
  setRunLogPath(runId: number, path: string): Promise<void>;
  /** Stores the latest tails of a running run's output so others can read it while it runs. */
  updateRunOutput(runId: number, output: RunOutput): Promise<void>;
  /**
   * Records the end of a run owned by `node`; applies the retry policy to `failed` and
   * `timed_out` (a new queued run with attempt + 1 after the backoff).
   */
  finishRun(req: FinishRequest): Promise<FinishResult>;
  /** finishRun for several runs in one transaction (an executor's results, batched); results in order. */
  finishRuns(reqs: FinishRequest[]): Promise<FinishResult[]>;
  /** Queued: cancelled at once. Running: cancel requested, its owner stops it. */
  cancelRun(runId: number, reason: string, now: number): Promise<Run>;
  getRun(runId: number): Promise<Run | null>;
  getRunOutput(runId: number): Promise<RunOutput | null>;
  /** Newest first. */
  listRuns(filter: RunFilter): Promise<Run[]>;
  /** The earliest `notBefore` among queued runs the node could claim later, for its wake-up timer. */
  nextQueuedAt(node: string, tasks: string[], tags: string[]): Promise<number | null>;
  /**
   * Calls `fn` when runs may have been queued (by this process or, on PostgreSQL, by any node
   * through LISTEN/NOTIFY); the executor claims then instead of waiting for its slow poll.
   * Returns a function that stops watching.
   */
  watchQueued(fn: () => void): () => void;

  /**
   * Runs whose lease has expired (their node stopped heartbeating) become `lost`, and the retry
   * policy applies. Queued runs targeted at a node dead for `nodeTtlMs` are lost too.
   */
  sweepLostRuns(now: number, nodeTtlMs: number): Promise<Run[]>;
  /** A node restarting under the same name: its runs still `running` are lost at once, then retried. */
  recoverNodeRuns(node: string, now: number): Promise<Run[]>;
  /**
   * A createDueFires call of `node` that may have deferred runs (FireClaim.defer) failed without
   * an answer: if it was committed all the same, its fires (of `schedules`, created at `firesAt`)
   * have runs that no node holds. Each such fire gets its run, queued for any node (it never
   * started). Returns the runs queued (none when the call was not committed).
   */
  requeueUnanswered(node: string, firesAt: number, schedules: string[], now: number): Promise<Run[]>;

  // --- nodes -------------------------------------------------------------------------------

  /** Registers (or re-registers) a node and renews its heartbeat. */
  registerNode(info: NodeInfo, now: number): Promise<void>;
  /** Renews the node's heartbeat and the leases of its running runs. */
  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult>;
  listNodes(opts?: ListNodesOptions): Promise<NodeRecord[]>;
  setDraining(node: string, draining: boolean): Promise<void>;
  /** Records how far the node's scheduler has planned its share (see NodeRecord.planned). */
  markPlanned(node: string, mark: PlannedMark): Promise<void>;
  /** A node stopping cleanly removes itself from the live set (its history stays). */
  deregisterNode(node: string, now: number): Promise<void>;

  // --- leases ------------------------------------------------------------------------------

  /** Takes or renews a named lease; see Lease.fence for fencing. */
  acquireLease(req: LeaseRequest): Promise<Lease>;
  releaseLease(name: string, holder: string): Promise<void>;
  getLease(name: string): Promise<Lease | null>;

  // --- API access and retention --------------------------------------------------------------

  /** Stores a token's hash under a name. ConflictError if a live token already has the name. */
  createToken(token: NewApiToken): Promise<ApiToken>;
  /** The live token with this hash, or null (unknown or revoked). */
  findToken(hash: string): Promise<ApiToken | null>;
  listTokens(): Promise<ApiToken[]>;
  /** Revokes the live token with this name. NotFoundError if there is none. */
  revokeToken(name: string, now: number): Promise<ApiToken>;
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Newest first. */
  listAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Deletes finished runs per the request (either rule suffices); fires stay, keeping invariant 1. */
  pruneRuns(req: PruneRequest): Promise<PruneResult>;
}
