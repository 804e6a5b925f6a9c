/** Domain records kept by every store. Instants are epoch milliseconds. */

export const RUN_STATUSES = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'lost',
  'cancelled',
  'skipped',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses a run never leaves. */
export const FINAL_STATUSES: readonly RunStatus[] = [
  'succeeded',
  'failed',
  'timed_out',
  'lost',
  'cancelled',
  'skipped',
];

export type ConcurrencyPolicy = 'allow' | 'forbid' | 'replace';
export type MisfirePolicy = 'skip' | 'run-once' | 'run-all';

/** Which nodes may run a fire: one node offering the task, every live one, or one with a tag. */
export type Target = { kind: 'any' } | { kind: 'all' } | { kind: 'tag'; tag: string };

/** What config or the API says about a schedule. */
export interface ScheduleSpec {
  name: string;
  /** A cron expression (5 or 6 fields, macros, `H`) or `@every <duration>`. */
  expr: string;
  /** IANA zone the expression is read in. */
  timezone: string;
  task: string;
  target: Target;
  concurrency: ConcurrencyPolicy;
  misfire: MisfirePolicy;
  /** With `run-all`, the most missed instants run after downtime; the rest are recorded `skipped`. */
  misfireLimit: number;
  /** `max` extra attempts after the first; the delay before attempt n+1 is backoffMs × 2^(n-1). */
  retries: { max: number; backoffMs: number };
  /** Kill the run after this long; null: the task's own timeout, or none. */
  timeoutMs: number | null;
  /** Each fire's start is delayed by a stable pseudo-random amount in [0, jitterMs). */
  jitterMs: number;
  source: 'config' | 'api';
}

export interface Schedule extends ScheduleSpec {
  /** False once removed from the config: its history is kept, it fires no more. */
  enabled: boolean;
  paused: boolean;
  /** The last instant the scheduler has considered (fired or recorded skipped); null before the first pass. */
  cursor: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface Run {
  id: number;
  schedule: string;
  task: string;
  scheduledAt: number;
  /** 1 for the first try, 2 for the first retry, ... */
  attempt: number;
  status: RunStatus;
  /** Set for `all` targets: the node this run is for. */
  targetNode: string | null;
  /** Set for `tag` targets: only nodes with this tag may claim it. */
  targetTag: string | null;
  /** The node that claimed it. */
  node: string | null;
  /** Not claimable before this instant (jitter, retry backoff). */
  notBefore: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  leaseUntil: number | null;
  exitCode: number | null;
  signal: string | null;
  /** Why it was skipped, lost, cancelled or failed without an exit code. */
  reason: string | null;
  /** Kill after this long; copied from the schedule (or task) when the run is created. */
  timeoutMs: number | null;
  /** Someone asked for this run to stop (cancel, `replace` policy); its owner acts on it. */
  cancelRequested: boolean;
  /** Where the full output lives on the node that ran it. */
  logPath: string | null;
  /** True for a fire made by `trigger` rather than by the schedule. */
  manual: boolean;
  /**
   * Set on a run that createDueFires handed to its creator without writing it (FireClaim.defer):
   * only its fire is stored until the node writes it, finished or still going. Never set on a
   * run read from the store.
   */
  deferred?: true;
}

export interface RunOutput {
  /** Last 256 KiB of each stream. */
  stdout: string;
  stderr: string;
}

export interface NodeInfo {
  name: string;
  host: string;
  pid: number;
  version: string;
  tasks: string[];
  tags: string[];
  startedAt: number;
  /** Whether it runs a scheduler (default true): only those share the scheduling. */
  scheduler?: boolean;
}

export interface NodeRecord extends NodeInfo {
  scheduler: boolean;
  heartbeatAt: number;
  draining: boolean;
  /** The node's own clock minus the store's, as last reported. */
  clockSkewMs: number;
  /** Runs it holds right now; null when listed without counts (see ListNodesOptions). */
  running: number | null;
  /**
   * Tasks it is executing right now, as its last heartbeat said (runs held for a later instant
   * are not counted); null before it said.
   */
  executing: number | null;
  /** How far its scheduler has planned its share, as it last said (null before it said). */
  planned: PlannedMark | null;
}

export interface ListNodesOptions {
  /**
   * Count each node's running runs (default true). The count walks every run a node holds,
   * tens of thousands with bursts claimed ahead; schedulers and executors read the node list
   * every beat or more often and need only liveness, marks and `executing`.
   */
  counts?: boolean;
}

/** A scheduler's word on its progress: see Store.markPlanned. */
export interface PlannedMark {
  /** Every fire of the schedules it owns, due at or before this instant, has been created. */
  through: number;
  /** The owners and schedule revision it judged ownership by: the mark holds for peers that see the same. */
  view: string;
  /** When it said so (store clock). */
  at: number;
}

/** One schedule's step forward: fires to create and the cursor to move, applied all or nothing. */
export interface FirePlan {
  schedule: string;
  /** The cursor this plan was computed from: the plan applies only if the stored cursor still equals it. */
  fromCursor: number | null;
  /** The new cursor: the last instant considered. */
  toCursor: number;
  fires: PlannedFire[];
}

export interface PlannedFire {
  scheduledAt: number;
  /** Claimable from this instant on (scheduledAt + jitter). */
  notBefore: number;
  /** Set when the misfire policy drops the instant: the fire is recorded with one `skipped` run. */
  skipReason?: string;
}

export interface CreatedFire {
  schedule: string;
  scheduledAt: number;
  manual: boolean;
  /** The runs made for it: queued, skipped (with reason) or already claimed by the caller. */
  runs: Run[];
}

export interface FireBatchResult {
  /** Schedules whose plan was applied (cursor moved). */
  applied: string[];
  /**
   * Schedules whose plan was not applied: the stored cursor had moved (another node got there
   * first), or the schedule is paused, disabled or gone. The caller reloads them.
   */
  stale: string[];
  /** Fires created by the applied plans (a fire that already existed is not repeated here). */
  fires: CreatedFire[];
}

export interface ClaimRequest {
  node: string;
  tasks: string[];
  tags: string[];
  /** Most runs to claim. */
  limit: number;
  leaseMs: number;
  now: number;
  /**
   * Claim runs due by this instant (default `now`): a node may take a run shortly before its
   * instant and start it at the instant, so the claim's cost is paid before it.
   */
  dueBy?: number;
  /**
   * Claim only runs created by this instant (default: any): a busier node leaves runs fresher
   * than its wait to less loaded peers, whenever its own claim happens to come.
   */
  createdBy?: number;
}

export interface FireOptions {
  now: number;
  /** A node missing heartbeats for longer is dead: no `all` runs for it. */
  nodeTtlMs: number;
  /** Name of the node creating the fires (recorded on the fire). */
  node: string;
  /**
   * The creating node takes, as it creates them, the runs it would claim next: up to `limit`
   * runs of its tasks, meant for it or anyone, due by `dueBy`. They are stored `running` on it
   * with their lease, so a fire costs no separate claim; the rest stay queued for any node.
   * A node busier than a peer passes none (the peer is preferred, see ClaimRequest.createdBy).
   */
  claim?: FireClaim;
}

/** What the creator of fires claims of their runs at once (see FireOptions.claim). */
export type FireClaim = Pick<ClaimRequest, 'tasks' | 'tags' | 'limit' | 'leaseMs'> & {
  dueBy: number;
  /**
   * The creator may be handed its claimed runs unwritten (Run.deferred): a run that ends soon is
   * then written once, finished, instead of inserted `running` and updated at its end. `epoch`
   * is the node's deferral epoch (HeartbeatResult.deferEpoch): once a sweep has taken the node's
   * unwritten runs for lost, the epoch moves and runs are no longer deferred under the old one.
   * A store may ignore it and write the runs as always.
   */
  defer?: { epoch: number };
};

/** A run that did not come from a schedule's fire (a job a gearman server handed over). */
export interface ExternalRunRequest {
  /** Where it is listed: e.g. `gearman:<function>`. */
  schedule: string;
  task: string;
  node: string;
  scheduledAt: number;
  timeoutMs: number | null;
  /** The run holds its lease this long (no heartbeats renew it). */
  leaseMs: number;
  now: number;
}

export type FinishStatus = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

export interface FinishRequest {
  runId: number;
  node: string;
  /**
   * When the task really started (process spawned); a claimed run's startedAt is its claim
   * instant until then. Absent: the claim instant stands.
   */
  startedAt?: number;
  status: FinishStatus;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  output: RunOutput;
  now: number;
  /**
   * The run as createDueFires handed it over, for a run never written (Run.deferred): the result
   * is written as a new row, under the epoch it was deferred in, or not at all once a sweep took
   * it for lost (epoch moved).
   */
  deferred?: { run: Run; epoch: number };
}

export interface FinishResult {
  /** False when the run was no longer this node's (swept lost, already finished). */
  applied: boolean;
  /** The next attempt, when the retry policy made one. */
  retry: Run | null;
}

export interface HeartbeatRequest {
  node: NodeInfo;
  clockSkewMs: number;
  /** Runs the node is executing: their leases are renewed. */
  runIds: number[];
  leaseMs: number;
  now: number;
  /**
   * Leases ending at or after this instant are left as they are (still checked for cancels and
   * takeovers): one claimed a moment ago needs no new row version yet. Absent: all are renewed.
   */
  renewBefore?: number;
  /** Tasks the node is executing right now (see NodeRecord.executing). */
  executing?: number;
  /**
   * The node's unwritten runs (Run.deferred), under its epoch: `since` is at or before the
   * creation of every fire whose run it may hold unwritten, so a sweep after its death looks for
   * them among the fires it created since; `write` are deferred runs still going that it writes
   * now, `running` with a lease, to be seen and cancellable like any other. Both apply only while
   * the stored epoch is `epoch`.
   */
  deferred?: { epoch: number; since: number; write: Run[] };
}

export interface HeartbeatResult {
  /** Runs someone asked to stop. */
  cancel: number[];
  /** Runs in `runIds` that are no longer this node's (swept lost, finished elsewhere): stop them. */
  revoked: number[];
  draining: boolean;
  /**
   * The node's deferral epoch, on a store that defers runs (FireClaim.defer); absent on one that
   * does not. A value other than the one the node sent means its unwritten runs were swept lost.
   */
  deferEpoch?: number;
  /** Of `deferred.write`, the runs written (none when the epoch had moved). */
  written?: number[];
}

export interface RunFilter {
  schedule?: string;
  node?: string;
  task?: string;
  status?: RunStatus[];
  /** scheduledAt >= from */
  from?: number;
  /** scheduledAt < to */
  to?: number;
  /** Page cursor: only runs with id < before (runs come newest first). */
  before?: number;
  limit: number;
}

export interface LeaseRequest {
  name: string;
  holder: string;
  ttlMs: number;
  /** Higher wins a free or expired lease; a live holder keeps it regardless. */
  priority: number;
  now: number;
}

export interface Lease {
  name: string;
  holder: string | null;
  /** Increases by one every time the lease changes hands; writes made under a lease carry it. */
  fence: number;
  expiresAt: number;
  /** True when `holder` in the request holds it after the call. */
  held: boolean;
}

export interface SyncResult {
  added: string[];
  updated: string[];
  disabled: string[];
}

/** What an API token may do: each role includes the ones before it. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface NewApiToken {
  name: string;
  role: Role;
  /** sha256 of the token, hex; the token itself is never stored. */
  hash: string;
  now: number;
}

export interface ApiToken {
  id: number;
  name: string;
  role: Role;
  createdAt: number;
  revokedAt: number | null;
}

/** One operator or admin action: who did what to which object, and when. */
export interface AuditEntry {
  id: number;
  at: number;
  /** The token's name (or `cli@node` for the command line). */
  actor: string;
  /** A stable verb such as `schedule.pause`, `run.cancel`, `token.create`. */
  action: string;
  target: string | null;
  /** JSON text with the request's particulars, when there are any. */
  detail: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

export interface AuditFilter {
  /** Only entries with id < before (newest first). */
  before?: number;
  limit: number;
}

/** Which finished runs to delete; runs still queued or running are never pruned. */
export interface PruneRequest {
  /** Delete finished runs that finished before this instant. */
  finishedBefore?: number;
  /** Delete finished runs beyond the newest N of each schedule. */
  keepPerSchedule?: number;
}

export interface PruneResult {
  deleted: number;
  /** Log files of the deleted runs, for the caller to remove from disk. */
  logPaths: string[];
}
