/**
 * A gearman worker's history in a store: each job becomes a run (schedule `gearman:<function>`)
 * held under a lease like a node's runs. The worker registers as a node that offers no store
 * tasks and schedules nothing (so no native run is ever handed to it), renews its runs' leases
 * with heartbeats, honours a cancel asked through the store, and sweeps expired leases: a
 * killed worker's runs become `lost` one lease later, whoever sweeps first.
 */
import { hostname } from 'node:os';
import type { Clock } from '../../clock.js';
import { finishStatusOf, type TaskHandle, type TaskResult } from '../../executor/task.js';
import { repeat, type Repeating } from '../../repeat.js';
import type { Store } from '../../store/store.js';
import type { NodeInfo, Run } from '../../store/types.js';
import { VERSION } from '../../version.js';

export interface RecorderOptions {
  store: Store;
  node: string;
  clock: Clock;
  /** A run whose worker misses heartbeats this long is lost. */
  leaseMs: number;
  heartbeatMs: number;
  /** A node missing heartbeats this long is dead (for sweeping runs queued for it). */
  nodeTtlMs: number;
  log: (line: string) => void;
}

export interface RecordedJob {
  function: string;
  timeoutMs: number | null;
  logPath?: string;
}

/**
 * History is a bonus over distributed-cron: a store that fails never stops a job from running,
 * it is logged and the job goes on unrecorded.
 */
export class RunRecorder {
  private readonly info: NodeInfo;
  /** Runs in flight, with their task once it is spawned and why it was stopped, if it was. */
  private readonly inFlight = new Map<number, { handle: TaskHandle | null; stopReason: string | null }>();
  private beats: Repeating | null = null;

  constructor(private readonly opts: RecorderOptions) {
    this.info = {
      name: opts.node,
      host: hostname(),
      pid: process.pid,
      version: VERSION,
      tasks: [],
      tags: [],
      startedAt: opts.clock.now(),
      scheduler: false,
    };
  }

  async start(): Promise<void> {
    const { store, clock } = this.opts;
    await store.registerNode(this.info, clock.now());
    // Runs a previous worker of this name left `running` (killed, machine lost) are lost now.
    const recovered = await store.recoverNodeRuns(this.opts.node, clock.now());
    if (recovered.length > 0) this.opts.log(`marked ${recovered.length} run(s) of a previous worker named ${this.opts.node} lost`);
    this.beats = repeat(clock, this.opts.heartbeatMs, () => this.heartbeat(), (err) =>
      this.opts.log(`heartbeat to the store failed: ${(err as Error).message}; retrying`),
    );
  }

  async stop(): Promise<void> {
    await this.beats?.stop();
    this.beats = null;
    try {
      await this.opts.store.deregisterNode(this.opts.node, this.opts.clock.now());
    } catch (err) {
      this.opts.log(`could not deregister from the store: ${(err as Error).message}`);
    }
  }

  /** Records a job's start; null when the store refused (the job runs anyway). */
  async begin(job: RecordedJob): Promise<Run | null> {
    const { store, clock } = this.opts;
    const now = clock.now();
    try {
      const run = await store.startExternalRun({
        schedule: `gearman:${job.function}`,
        task: job.function,
        node: this.opts.node,
        scheduledAt: now,
        timeoutMs: job.timeoutMs,
        leaseMs: this.opts.leaseMs,
        now,
      });
      this.inFlight.set(run.id, { handle: null, stopReason: null });
      if (job.logPath) await store.setRunLogPath(run.id, job.logPath);
      return run;
    } catch (err) {
      this.opts.log(`could not record ${job.function} in the store: ${(err as Error).message}`);
      return null;
    }
  }

  /** The run's task, once spawned: a cancel from the store stops it. */
  attach(run: Run | null, handle: TaskHandle): void {
    const entry = run && this.inFlight.get(run.id);
    if (entry) entry.handle = handle;
  }

  /** Records a job's end; `reason` says why when it did not succeed (a cancel's own reason wins). */
  async end(run: Run | null, result: TaskResult, reason: string): Promise<void> {
    if (!run) return;
    const stopReason = this.inFlight.get(run.id)?.stopReason ?? null;
    this.inFlight.delete(run.id);
    const status = finishStatusOf(result);
    try {
      await this.opts.store.finishRun({
        runId: run.id,
        node: this.opts.node,
        startedAt: result.startedAt,
        status,
        exitCode: result.exitCode,
        signal: result.signal,
        reason: status === 'succeeded' ? null : status === 'cancelled' && stopReason ? stopReason : reason,
        output: { stdout: result.stdout, stderr: result.stderr },
        now: this.opts.clock.now(),
      });
    } catch (err) {
      this.opts.log(`could not record the end of run ${run.id}: ${(err as Error).message}`);
    }
  }

  private async heartbeat(): Promise<void> {
    const { store, clock } = this.opts;
    const res = await store.heartbeat({ node: this.info, clockSkewMs: 0, runIds: [...this.inFlight.keys()], leaseMs: this.opts.leaseMs, now: clock.now() });
    for (const id of res.cancel) {
      const reason = (await store.getRun(id))?.reason ?? 'cancel requested';
      this.stopRun(id, reason);
    }
    for (const id of res.revoked) this.stopRun(id, 'lease lost: the run was taken over');
    const lost = await store.sweepLostRuns(clock.now(), this.opts.nodeTtlMs);
    if (lost.length > 0) this.opts.log(`marked ${lost.length} run(s) lost: their node stopped heartbeating`);
  }

  private stopRun(id: number, reason: string): void {
    const entry = this.inFlight.get(id);
    if (!entry?.handle || entry.stopReason !== null) return;
    entry.stopReason = reason;
    this.opts.log(`stopping run ${id}: ${reason}`);
    entry.handle.cancel(reason);
  }
}
