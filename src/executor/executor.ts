import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { repeat, type Repeating } from '../repeat.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { FinishRequest, FinishStatus, FireClaim, NodeInfo, Run } from '../store/types.js';
import { formatDuration } from '../time/duration.js';
import type { Launcher } from './launcher.js';
import { loadRank } from './load-rank.js';
import { prestartCommand, type GatedCommand } from './process.js';
import { ResultQueue } from './results.js';
import { startTask } from './run-task.js';
import { finishStatusOf, type TaskDef, type TaskHandle, type TaskResult, type TaskStartOptions } from './task.js';

/**
 * Longest stretch of run starts before the event loop gets a turn. An instant's 14,000 no-op
 * starts took 8-57 ms here, by how much of the CPU PostgreSQL was using; cut at 20 ms, the rest
 * waited 10-20 ms behind the results of those started, and one instant's tail decided the p99
 * (14,000 a second on one node: p99 134, 1,512 and 54 ms in three runs at 20 ms; 38, 45 and 49 at
 * 50). A 50 ms turn is nothing to heartbeats and timers counted in seconds.
 */
const START_SLICE_MS = 50;
/** A built-in task takes no options: none are built for each of its runs. */
const NO_OPTIONS: TaskStartOptions = {};
/** Most command runs forked behind a gate ahead of their instant at once; later ones fork at it. */
const MAX_GATES = 64;
/**
 * A run handed over unwritten (Run.deferred) that is still going this long after its start is
 * written `running` at the next heartbeat: from then on it is listed, its output is copied and it
 * can be cancelled like any other. Most runs of a busy node end well within it and are written
 * once, finished.
 */
const DEFERRED_WRITE_AFTER_MS = 1_000;
/**
 * How far before a heartbeat the `since` it sends reaches at least. A scheduler's pass creates
 * its fires at the instant it began, and asks for its claims batch by batch as it goes: a claim
 * for fires older than the last `since` sent may not defer (see fireClaim), and with `since` at
 * the beat itself every batch sent after a beat that came mid-pass was written as before (at
 * 24,000 fires a second, two runs in three). A dead node's sweep reads this much more of its fires.
 */
const DEFERRED_SINCE_SLACK_MS = 5_000;

export interface ExecutorOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  node: NodeInfo;
  /** This node's tasks: the only things it will ever run (invariant 3). */
  tasks: Map<string, TaskDef>;
  concurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  killGraceMs: number;
  pollMs: number;
  nodeTtlMs: number;
  dataDir: string;
  /** What forks command tasks; the shared helper when absent. */
  launcher?: Launcher;
  /** This node's clock minus the store's, reported with each heartbeat. */
  clockSkewMs?: () => number;
  /** How often the output tails of running runs are copied to the store. */
  outputFlushMs?: number;
  /**
   * Runs due within this are claimed ahead and started by a local timer at their instant, so
   * a burst of runs costs the store nothing at the instant itself.
   */
  prefetchMs?: number;
  /** `startedAt` is the task's start on the store's clock (the result's own is the process's). */
  onFinished?: (run: Run, status: FinishStatus, result: TaskResult, startedAt: number) => void;
}

interface Active {
  run: Run;
  handle: TaskHandle;
  /** Why we stopped it ourselves, if we did. */
  stopReason: string | null;
  /** True once the store said the run is no longer ours: its result is not recorded. */
  revoked: boolean;
  /** The tails last copied to the store: unchanged tails are not written again. */
  flushed: { stdout: string; stderr: string };
  /** The timeout in force: the schedule's, else the task's. */
  timeoutMs: number | null;
}

/**
 * Claims runs of this node's tasks from the store and runs them, holding each run's lease with
 * heartbeats. Wakes on the store's queued-run notification, on a timer for runs that become due
 * later (jitter, retry backoff), and on a slow poll as a safety net.
 */
export class Executor {
  private readonly active = new Map<number, Active>();
  /** Claimed ahead of their instant, waiting for it (see prefetchMs). */
  private readonly held = new Map<number, Run>();
  /** The held runs due at each instant, and the timer that starts them. */
  private readonly heldAt = new Map<number, { ids: number[]; stop: () => void }>();
  /**
   * Held command runs whose process is already forked, waiting behind a gate for the instant
   * (launcher.ts): at the instant the run starts with a pipe write instead of a fork and exec.
   */
  private readonly gates = new Map<number, GatedCommand>();
  /** Offered tasks that run a process (the others need no launcher). */
  private readonly commandTasks: Set<string>;
  /** Held runs that are due, in the order they start (see drainStarts). */
  private readonly startQueue = new Set<number>();
  private startsDeferred = false;
  /** When the last heartbeat began, on the node's clock. */
  private lastBeatAt: number | null = null;
  private readonly results: ResultQueue;
  private timers: Repeating[] = [];
  private dueTimer: (() => void) | null = null;
  private unwatch: (() => void) | null = null;
  private claiming: Promise<void> | null = null;
  private claimAgain = false;
  /** True when the last claim stopped because this node had no room left. */
  private roomLimited = false;
  /** Set while a claim waits for less loaded peers to pick first. */
  private deferredClaim: (() => void) | null = null;
  /** The wait before claiming, from this node's load rank at the last heartbeat. */
  private claimDelayMs = 0;
  private stopping = false;
  private draining = false;
  private readonly idle = new Set<() => void>();
  private readonly counts = { claimed: 0, atCreation: 0, deferred: 0, lostSwept: 0, errors: 0 };
  /**
   * This node's deferral epoch as the store last said (HeartbeatResult.deferEpoch); null until
   * it said, and on a store that does not defer: runs are then always written as claimed.
   */
  private deferEpoch: number | null = null;
  /** Runs handed over unwritten and not yet finished, with the epoch each was deferred in. */
  private readonly unwritten = new Map<number, { run: Run; epoch: number }>();
  /** Claims under way that allow deferring, each with the instant its fires are created at. */
  private readonly offers = new Map<FireClaim, number>();
  /**
   * Calls that could defer runs and failed without an answer: committed all the same, their fires
   * would have runs no node holds. Each is looked up until the store answers (see upkeep).
   */
  private unanswered: Array<{ firesAt: number; schedules: string[] }> = [];
  /**
   * The `since` the last heartbeat sent (HeartbeatRequest.deferred): a claim for fires created
   * before it may not defer, or a sweep starting from it would miss them.
   */
  private deferredFloor = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: ExecutorOptions) {
    this.results = new ResultQueue(opts.store, opts.log);
    this.commandTasks = new Set([...opts.tasks].filter(([, t]) => t.kind === 'command').map(([name]) => name));
  }

  /** Counters for metrics and benchmarks. */
  get stats(): { claimed: number; atCreation: number; deferred: number; finished: number; lostSwept: number; errors: number } {
    return { ...this.counts, finished: this.results.stats.recorded, errors: this.counts.errors + this.results.stats.errors };
  }

  get running(): number {
    return this.active.size;
  }

  /** Runs this node holds: running, or claimed and waiting for their instant. */
  private get busy(): number {
    return this.active.size + this.held.size;
  }

  get isDraining(): boolean {
    return this.draining || this.stopping;
  }

  async start(): Promise<void> {
    const { store, clock, log, node } = this.opts;
    // The registration is the node's first beat: a run taken after it is not rewritten at the next
    // one (its lease was just written), only at the one after, as at every later beat. Without it
    // the first beat renewed every run held by then, tens of thousands on a busy node, and held
    // their rows locked against their own results for over a second.
    const registeredAt = clock.now();
    await store.registerNode(node, registeredAt);
    this.lastBeatAt = registeredAt;
    const recovered = await store.recoverNodeRuns(node.name, clock.now());
    for (const r of recovered) {
      log.warn({ run: r.id, schedule: r.schedule, scheduledAt: new Date(r.scheduledAt).toISOString() }, 'run left running by this node before a restart is lost');
    }
    this.unwatch = store.watchQueued(() => this.wake());
    this.loop(this.opts.heartbeatMs, () => this.heartbeat());
    this.loop(this.opts.heartbeatMs, () => this.upkeep());
    this.loop(this.opts.pollMs, async () => this.wake());
    this.loop(this.opts.outputFlushMs ?? 1_000, () => this.flushOutputs());
    this.wake();
  }

  /**
   * Claims as many due runs as there is room for (coalescing concurrent calls), after letting
   * less loaded peers pick first.
   */
  wake(): void {
    if (this.stopping) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    if (this.claimDelayMs > 0) {
      this.deferredClaim ??= this.opts.clock.setTimer(this.claimDelayMs, () => {
        this.deferredClaim = null;
        this.claimNow();
      });
      return;
    }
    this.claimNow();
  }

  private claimNow(): void {
    if (this.stopping || this.claiming) return;
    this.claiming = this.claimLoop()
      .catch((err: unknown) => {
        this.counts.errors++;
        this.opts.log.warn({ err: (err as Error).message }, 'claiming runs failed; will retry at the next wake-up');
      })
      .finally(() => {
        this.claiming = null;
        if (this.claimAgain) {
          this.claimAgain = false;
          this.wake();
        }
      });
  }

  private async claimLoop(): Promise<void> {
    const { store, clock, node, tasks } = this.opts;
    if (tasks.size === 0) return;
    for (;;) {
      const room = this.opts.concurrency - this.busy;
      this.roomLimited = room <= 0;
      if (room <= 0 || this.isDraining) return;
      const now = clock.now();
      const runs = await store.claimRuns({
        node: node.name,
        now,
        ...this.claimOf(room, now),
        // Busier than some peer: runs fresher than the wait are theirs to pick first.
        ...(this.claimDelayMs > 0 && { createdBy: now - this.claimDelayMs }),
      });
      this.take(runs);
      if (runs.length < room) break;
    }
    await this.armDueTimer();
  }

  /**
   * What this node takes of the runs its scheduler is creating (see FireOptions.claim): as much
   * as a claim now would, or nothing while a peer is less loaded or this node is draining.
   */
  fireClaim(firesAt: number): FireClaim | null {
    const room = this.opts.concurrency - this.busy;
    if (room <= 0 || this.isDraining || this.claimDelayMs > 0 || this.opts.tasks.size === 0) return null;
    const claim = this.claimOf(room, this.opts.clock.now());
    if (this.deferEpoch !== null && firesAt >= this.deferredFloor) {
      claim.defer = { epoch: this.deferEpoch };
      this.offers.set(claim, firesAt);
    }
    return claim;
  }

  /**
   * The answer to a fireClaim: the runs the scheduler got for it; none if its store call failed,
   * and then `unanswered` names the schedules whose fires that call may have created anyway.
   */
  takeClaimed(runs: Run[], claim: FireClaim, unanswered?: string[]): void {
    const firesAt = this.offers.get(claim);
    this.offers.delete(claim);
    if (unanswered && firesAt !== undefined) this.unanswered.push({ firesAt, schedules: unanswered });
    this.counts.atCreation += runs.length;
    const epoch = claim.defer?.epoch;
    if (epoch !== undefined) {
      for (const run of runs) {
        if (!run.deferred) continue;
        this.unwritten.set(run.id, { run, epoch });
        this.counts.deferred++;
      }
    }
    this.take(runs);
  }

  /** What this node claims with `room` free at `now`: its tasks and tags, runs due within its prefetch. */
  private claimOf(room: number, now: number): FireClaim {
    const { node, tasks, leaseMs, prefetchMs } = this.opts;
    return { tasks: [...tasks.keys()], tags: node.tags, limit: room, leaseMs, dueBy: now + (prefetchMs ?? 0) };
  }

  /** Runs claimed for this node (by its claim, or by its scheduler as it created them): each starts at its instant. */
  take(runs: Run[]): void {
    if (runs.length === 0) return;
    this.counts.claimed += runs.length;
    // A command run claimed ahead of its instant: the launcher's helper starts now if it is
    // not running yet, so that run does not wait for it. A node that runs no commands has none.
    if (this.commandTasks.size > 0 && runs.some((r) => this.commandTasks.has(r.task))) this.opts.launcher?.prepare();
    const at = this.opts.clock.now();
    for (const run of runs) {
      if (run.notBefore <= at) this.startSoon(run);
      else this.hold(run);
    }
    this.kickStarts();
  }

  /**
   * Keeps a run claimed ahead until its instant; runs due at the same instant share a timer and
   * a list, so an instant's timer looks at its own runs, not at every run held (at 14,000 fires
   * a second, 28,000 of them copied and walked at each instant).
   */
  private hold(run: Run): void {
    this.held.set(run.id, run);
    this.forkGate(run);
    const at = run.notBefore;
    const due = this.heldAt.get(at);
    if (due) {
      due.ids.push(run.id);
      return;
    }
    const entry = { ids: [run.id], stop: () => {} };
    const fire = () => {
      // Timers may fire a millisecond early: a run never starts before its instant.
      const early = at - this.opts.clock.now();
      if (early > 0) {
        entry.stop = this.opts.clock.setTimer(early, fire);
        return;
      }
      this.heldAt.delete(at);
      // Ids of runs gone meanwhile (cancelled, taken over) find nothing held.
      for (const id of entry.ids) {
        const r = this.held.get(id);
        if (r) this.startSoon(r);
      }
      this.kickStarts();
    };
    entry.stop = this.opts.clock.setTimer(at - this.opts.clock.now(), fire);
    this.heldAt.set(at, entry);
  }

  /** A held command run's process is forked now, behind its gate, unless too many wait already. */
  private forkGate(run: Run): void {
    const task = this.opts.tasks.get(run.task);
    if (task?.kind !== 'command' || this.gates.size >= MAX_GATES || this.gates.has(run.id)) return;
    this.gates.set(run.id, prestartCommand(task, this.startOptions(run, task)));
  }

  /** A held run that will not start here (cancelled, taken over, stopped): its gate goes too. */
  private unhold(id: number): void {
    this.held.delete(id);
    this.takeGate(id)?.discard();
  }

  private takeGate(id: number): GatedCommand | undefined {
    const gate = this.gates.get(id);
    this.gates.delete(id);
    return gate;
  }

  /**
   * Queues a claimed run that is due to start after those already waiting (kickStarts starts
   * them). Until it starts it stays held: heartbeats renew its lease, a cancel reaches it, it
   * counts against concurrency.
   */
  private startSoon(run: Run): void {
    this.held.set(run.id, run);
    this.startQueue.add(run.id);
  }

  /** Starts the queued runs now, unless a slice is already waiting for its turn. */
  private kickStarts(): void {
    if (!this.startsDeferred) this.drainStarts();
  }

  /**
   * Starting runs is work on the event loop: with `executor.spawn: inline` each fork and exec
   * blocks it (1-15 ms, by machine and by this process's size), and a claim of 64 due runs
   * started in one go held it for a second or more, long enough for this node's heartbeats to
   * lapse and its leases to be swept. Runs start in order for at most START_SLICE_MS at a time,
   * then the event loop turns (heartbeats, timers, results) before the next slice.
   */
  private readonly drainStarts = (): void => {
    this.startsDeferred = false;
    const until = performance.now() + START_SLICE_MS;
    for (const id of this.startQueue) {
      if (performance.now() >= until) {
        this.startsDeferred = true;
        setImmediate(this.drainStarts);
        return;
      }
      this.startQueue.delete(id);
      const run = this.held.get(id);
      // Gone while it waited: cancelled, or its lease taken over.
      if (!run) continue;
      this.held.delete(id);
      this.startRun(run);
    }
  };

  /** Wakes at the earliest queued run that is not due yet (jitter, retry backoff). */
  private async armDueTimer(): Promise<void> {
    const { store, clock, node, tasks } = this.opts;
    const at = await store.nextQueuedAt(node.name, [...tasks.keys()], node.tags);
    this.dueTimer?.();
    this.dueTimer = null;
    if (at === null || this.stopping) return;
    this.dueTimer = clock.setTimer(Math.max(0, at - (this.opts.prefetchMs ?? 0) - clock.now()), () => this.wake());
  }

  private startRun(run: Run): void {
    const { log, store, clock } = this.opts;
    const task = this.opts.tasks.get(run.task);
    if (!task) {
      // claimRuns only hands out offered tasks; this guards invariant 3 if config and store disagree.
      this.queueFinish(run, 'failed', null, null, `task "${run.task}" is not offered by node ${this.opts.node.name}`, { stdout: '', stderr: '' });
      return;
    }
    const logPath = this.logPathOf(run, task);
    const gate = this.takeGate(run.id);
    gate?.release();
    // A gated run's options were built when its gate was forked.
    const handle = gate ? gate.handle : startTask(task, this.startOptions(run, task));
    const entry: Active = { run, handle, stopReason: null, revoked: false, flushed: { stdout: '', stderr: '' }, timeoutMs: run.timeoutMs ?? task.timeoutMs ?? null };
    this.active.set(run.id, entry);
    if (log.isLevelEnabled('info')) {
      log.info({ run: run.id, schedule: run.schedule, task: run.task, attempt: run.attempt, pid: handle.pid, lateMs: clock.now() - run.scheduledAt }, 'run started');
    }
    if (run.deferred) {
      // Written with the run, whenever that is.
      run.startedAt = clock.now();
      run.logPath = logPath ?? null;
    } else if (logPath) {
      store.setRunLogPath(run.id, logPath).catch((err: unknown) => log.warn({ run: run.id, err: (err as Error).message }, 'could not record the log path'));
    }
    handle.done.then(
      (result) => this.onDone(entry, result),
      (err: unknown) => this.onDone(entry, { exitCode: null, signal: null, timedOut: false, cancelled: false, error: String(err), stdout: '', stderr: '', startedAt: clock.now(), finishedAt: clock.now() }),
    );
  }

  /** A built-in task has no process: no log file, no environment to build. */
  private logPathOf(run: Run, task: TaskDef): string | undefined {
    return task.kind === 'builtin' ? undefined : join(this.opts.dataDir, 'logs', `${run.id}.log`);
  }

  private startOptions(run: Run, task: TaskDef): TaskStartOptions {
    if (task.kind === 'builtin') return NO_OPTIONS;
    const logPath = this.logPathOf(run, task);
    return {
      ...(logPath !== undefined && { logPath }),
      ...(run.timeoutMs !== null && { timeoutMs: run.timeoutMs }),
      killGraceMs: this.opts.killGraceMs,
      ...(this.opts.launcher && { launcher: this.opts.launcher }),
      env: {
        CRONFLEET_RUN_ID: String(run.id),
        CRONFLEET_SCHEDULE: run.schedule,
        CRONFLEET_TASK: run.task,
        CRONFLEET_SCHEDULED_AT: new Date(run.scheduledAt).toISOString(),
        CRONFLEET_ATTEMPT: String(run.attempt),
        CRONFLEET_NODE: this.opts.node.name,
      },
    };
  }

  private onDone(entry: Active, result: TaskResult): void {
    this.active.delete(entry.run.id);
    const { run } = entry;
    const status = finishStatusOf(result);
    const reason =
      status === 'cancelled'
        ? (entry.stopReason ?? 'cancelled')
        : status === 'timed_out'
          ? `timed out after ${formatDuration(entry.timeoutMs ?? 0)}`
          : status === 'failed'
            ? (result.error ?? (result.signal ? `killed by ${result.signal}` : `exit status ${result.exitCode}`))
            : null;
    const level = status === 'succeeded' ? 'info' : 'warn';
    if (this.opts.log.isLevelEnabled(level)) {
      this.opts.log[level](
        { run: run.id, schedule: run.schedule, status, exitCode: result.exitCode, signal: result.signal, reason, durationMs: result.finishedAt - result.startedAt },
        'run finished',
      );
    }
    // Task timestamps come from the process's own clock; the node follows the store's.
    const startedAt = result.startedAt + (this.opts.clock.now() - Date.now());
    this.opts.onFinished?.(run, status, result, startedAt);
    if (entry.revoked) {
      this.opts.log.warn({ run: run.id }, 'run was taken from this node (lease lost); its result is not recorded');
    } else {
      this.queueFinish(run, status, result.exitCode, result.signal, reason, { stdout: result.stdout, stderr: result.stderr }, startedAt);
    }
    for (const fn of this.idle) fn();
    // A finished run makes room: that matters only if the last claim was cut short for lack of
    // it. Otherwise new runs wake the node themselves (notification, due timer, poll).
    if (this.roomLimited) this.wake();
  }

  private queueFinish(
    run: Run,
    status: FinishStatus,
    exitCode: number | null,
    signal: string | null,
    reason: string | null,
    output: FinishRequest['output'],
    startedAt?: number,
  ): void {
    // Built field by field: an object literal with spreads in it cost ~40 µs per result here
    // (V8 copies, then adds each later field on a slow path), 5% of a busy node's time.
    const req: FinishRequest = { runId: run.id, node: this.opts.node.name, status, exitCode, signal, reason, output, now: this.opts.clock.now() };
    if (startedAt !== undefined) req.startedAt = startedAt;
    if (run.deferred) {
      const deferred = this.unwritten.get(run.id);
      this.unwritten.delete(run.id);
      if (deferred) req.deferred = deferred;
    }
    this.results.add(req);
  }

  private async heartbeat(): Promise<void> {
    const { store, clock, node, log } = this.opts;
    const now = clock.now();
    // A beat that comes late or takes long eats into the leases it renews: say so, with how much.
    const previousBeat = this.lastBeatAt;
    const lateMs = previousBeat === null ? 0 : now - previousBeat - this.opts.heartbeatMs;
    this.lastBeatAt = now;
    const began = performance.now();
    const deferred = this.deferredBeat(now);
    const res = await store.heartbeat({
      node,
      clockSkewMs: this.opts.clockSkewMs?.() ?? 0,
      // Ended runs whose results wait to be written are still `running` in the store: a lease that
      // lapsed while the result waited would get them swept lost, and the result thrown away.
      // Runs never written have no lease to renew.
      runIds: this.unwritten.size === 0
        ? [...this.active.keys(), ...this.held.keys(), ...this.results.pendingRunIds()]
        : [...this.active.keys(), ...this.held.keys()].filter((id) => !this.unwritten.has(id)).concat(this.results.pendingRunIds()),
      leaseMs: this.opts.leaseMs,
      now,
      executing: this.active.size,
      // A lease taken since the last beat (ending after that beat + leaseMs) is not rewritten: it
      // still outlasts the next beat by about leaseMs − 2 × heartbeat, a third of a lease or more.
      // At 10,000 runs a second, nearly every run held at a beat was claimed since the last one.
      ...(previousBeat !== null && this.opts.leaseMs >= 3 * this.opts.heartbeatMs && { renewBefore: previousBeat + this.opts.leaseMs + 1 }),
      ...(deferred && { deferred }),
    });
    this.afterDeferredBeat(deferred, res.deferEpoch, res.written ?? []);
    for (const id of res.cancel) {
      const waiting = this.held.get(id);
      if (waiting) {
        this.unhold(id);
        const reason = (await store.getRun(id))?.reason ?? 'cancel requested';
        this.queueFinish(waiting, 'cancelled', null, null, reason, { stdout: '', stderr: '' });
        continue;
      }
      if (!this.active.has(id) || this.active.get(id)!.stopReason !== null) continue;
      // The store keeps why (cancel from an operator, `replace` policy): the run's record says it.
      const reason = (await store.getRun(id))?.reason;
      this.stopRun(id, reason ?? 'cancel requested');
    }
    for (const id of res.revoked) {
      this.unhold(id);
      const entry = this.active.get(id);
      if (entry) entry.revoked = true;
      this.stopRun(id, 'lease lost: the run was taken over');
    }
    const tookMs = Math.round(performance.now() - began);
    if (lateMs + tookMs > this.opts.leaseMs / 3) {
      log.warn({ lateMs, tookMs, leaseMs: this.opts.leaseMs }, 'heartbeat came late or was slow: leases were close to running out');
    }
    if (res.draining !== this.draining) {
      this.draining = res.draining;
      log.info({ draining: res.draining }, res.draining ? 'node draining: no new runs will be claimed' : 'node no longer draining');
      if (!res.draining) this.wake();
    }
  }

  /**
   * What a heartbeat says of this node's unwritten runs: how far back their fires may go (the
   * earliest of the claims under way, of the runs held unwritten and of their results waiting),
   * and which have gone on long enough to be written.
   */
  private deferredBeat(now: number): { epoch: number; since: number; write: Run[] } | undefined {
    if (this.deferEpoch === null) return undefined;
    let since = Math.max(now - DEFERRED_SINCE_SLACK_MS, this.deferredFloor);
    for (const at of this.offers.values()) since = Math.min(since, at);
    for (const u of this.unanswered) since = Math.min(since, u.firesAt);
    const write: Run[] = [];
    for (const { run } of this.unwritten.values()) {
      since = Math.min(since, run.createdAt);
      if (this.active.has(run.id) && run.startedAt !== null && now - run.startedAt >= DEFERRED_WRITE_AFTER_MS) write.push(run);
    }
    const waiting = this.results.deferredSince();
    if (waiting !== null) since = Math.min(since, waiting);
    // Set before the beat goes: a claim made while it is on its way may not defer fires older than it.
    this.deferredFloor = since;
    return { epoch: this.deferEpoch, since, write };
  }

  private afterDeferredBeat(sent: { epoch: number } | undefined, epoch: number | undefined, written: number[]): void {
    for (const id of written) {
      const entry = this.unwritten.get(id);
      this.unwritten.delete(id);
      if (entry) delete entry.run.deferred;
    }
    if (epoch === undefined) return;
    if (sent !== undefined && epoch !== sent.epoch) {
      // A peer took this node for dead and its unwritten runs for lost (they are retried): none is its own any more.
      this.opts.log.warn({ runs: this.unwritten.size, epoch }, 'runs this node held unwritten were swept lost by a peer; stopping them');
      for (const [id, entry] of this.unwritten) {
        if (entry.epoch === epoch) continue;
        this.unwritten.delete(id);
        this.unhold(id);
        const active = this.active.get(id);
        if (active) active.revoked = true;
        this.stopRun(id, 'taken for lost while this node was out of reach');
      }
    }
    this.deferEpoch = epoch;
  }

  /**
   * What the heartbeat used to do after renewing the leases, in a loop of its own: on a busy store
   * a result batch or a sweep could hold the next renewal back by seconds, long enough for this
   * node's own leases to run out.
   */
  private async upkeep(): Promise<void> {
    const { store, clock, node, log } = this.opts;
    const now = clock.now();
    const nodes = await store.listNodes({ counts: false });
    // A new run is left to less loaded peers a quarter of the prefetch per such peer, so that the
    // least loaded node gets first pick of `any` runs and runs claimed ahead still start on time.
    this.claimDelayMs = (loadRank(node.name, nodes, now, this.opts.nodeTtlMs) * (this.opts.prefetchMs ?? 0)) / 4;
    await this.results.flush();
    while (this.unanswered.length > 0) {
      const u = this.unanswered[0]!;
      const queued = await store.requeueUnanswered(node.name, u.firesAt, u.schedules, now);
      this.unanswered.shift();
      if (queued.length > 0) {
        log.warn({ runs: queued.length, firesAt: new Date(u.firesAt).toISOString() }, 'fires created by a store call whose answer was lost: their runs are queued again');
      }
    }
    const lost = await store.sweepLostRuns(now, this.opts.nodeTtlMs);
    this.counts.lostSwept += lost.length;
    for (const r of lost) log.warn({ run: r.id, schedule: r.schedule, node: r.node, reason: r.reason }, 'run lost');
    if (lost.length > 0) this.wake();
  }

  private async flushOutputs(): Promise<void> {
    for (const entry of this.active.values()) {
      // Not written yet: its output goes with it.
      if (entry.run.deferred) continue;
      const tails = entry.handle.tails();
      // Compared by content: a quiet run whose tails are full would otherwise be rewritten every second.
      if (tails.stdout === entry.flushed.stdout && tails.stderr === entry.flushed.stderr) continue;
      entry.flushed = tails;
      await this.opts.store.updateRunOutput(entry.run.id, tails);
    }
  }

  /** Stops one running run (cancel, replace, lease lost). */
  stopRun(runId: number, reason: string): boolean {
    const entry = this.active.get(runId);
    if (!entry) return false;
    if (entry.stopReason === null) {
      entry.stopReason = reason;
      this.opts.log.info({ run: runId, reason }, 'stopping run');
      entry.handle.cancel(reason);
    }
    return true;
  }

  /** Stops every running run at once. */
  stopAll(reason: string): void {
    for (const run of [...this.held.values()]) {
      this.unhold(run.id);
      this.queueFinish(run, 'cancelled', null, null, `${reason} before its instant`, { stdout: '', stderr: '' });
    }
    for (const due of this.heldAt.values()) due.stop();
    this.heldAt.clear();
    for (const id of [...this.active.keys()]) this.stopRun(id, reason);
    for (const fn of this.idle) fn();
  }

  /** Resolves when no run is active, or after `ms`; true when idle. */
  private waitIdle(ms: number): Promise<boolean> {
    if (this.busy === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (this.busy === 0) done(true);
      };
      const cancel = this.opts.clock.setTimer(ms, () => done(this.busy === 0));
      const done = (v: boolean) => {
        cancel();
        this.idle.delete(check);
        resolve(v);
      };
      this.idle.add(check);
    });
  }

  /**
   * Graceful stop: no new claims; running tasks get `graceMs` to finish, then are stopped and
   * recorded `cancelled`; nothing is left `running`. The node leaves the live set.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unwatch?.();
    this.dueTimer?.();
    this.deferredClaim?.();
    this.deferredClaim = null;
    await this.claiming;
    // Runs claimed ahead still start at their instant (moments away): they are this node's to run.
    if (this.busy > 0) {
      this.opts.log.info({ running: this.active.size, waiting: this.held.size, graceMs }, 'waiting for running tasks to finish');
      if (!(await this.waitIdle(graceMs))) {
        this.stopAll('node shutting down');
        await this.waitIdle(this.opts.killGraceMs + 5_000);
      }
    }
    await Promise.all(this.timers.map((t) => t.stop()));
    this.timers = [];
    await this.results.flush();
    if (this.results.deferredSince() !== null) {
      // Those runs exist only as their fires: the registration says where a sweep finds them.
      this.opts.log.warn({}, 'results of runs never written could not be recorded; this node stays registered so that a peer records them lost');
      return;
    }
    await this.opts.store.deregisterNode(this.opts.node.name, this.opts.clock.now());
  }

  /** Repeats `fn` every `ms` until stop; failures are logged, never fatal. */
  private loop(ms: number, fn: () => Promise<void>): void {
    this.timers.push(
      repeat(this.opts.clock, ms, fn, (err) => {
        this.counts.errors++;
        this.opts.log.warn({ err: (err as Error).message }, 'periodic task failed; will retry');
      }),
    );
  }
}
