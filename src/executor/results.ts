import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { FinishRequest } from '../store/types.js';

/** Most finished runs recorded in one store transaction. */
const BATCH = 500;

/**
 * Batches written at once. One at a time fell behind at 16,000 runs a second on one node here
 * (3-4 s of results unrecorded 2 s after the load; 0-1.4 s with two): each batch waits on its own
 * round trips and commit while the store could work on another.
 */
const LANES = 2;

/**
 * Results of finished runs on their way to the store. Results that arrive while a batch is
 * being written go in the next batch (at a thousand runs a second, one transaction per run
 * could not keep up); while a full batch waits behind one in flight, a second lane writes it.
 * A batch the store refuses goes back to the front of the queue and is retried by the next
 * flush (the executor flushes with every heartbeat), so an outage loses nothing.
 */
export class ResultQueue {
  private readonly pending: FinishRequest[] = [];
  /** Batches being written, each with the number (in order of arrival) of its first result. */
  private readonly inFlight = new Map<FinishRequest[], number>();
  /**
   * Results added so far: `pending` holds the latest of them, so the first waiting is numbered
   * `added - pending.length` (lower after a refused batch went back, which only delays a flush).
   */
  private added = 0;
  private lanes = 0;
  private refused = false;
  private waiters: Array<{ upTo: number; resolve: () => void }> = [];
  readonly stats = { recorded: 0, errors: 0 };

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  /**
   * Runs whose results wait here: they are still `running` in the store, and their leases must
   * hold. Runs never written (FinishRequest.deferred) have no lease.
   */
  pendingRunIds(): number[] {
    return this.waiting().flatMap((r) => (r.deferred === undefined ? [r.runId] : []));
  }

  /** The earliest creation among the runs never written whose results wait here (null: none). */
  deferredSince(): number | null {
    let since: number | null = null;
    for (const r of this.waiting()) {
      if (r.deferred !== undefined && (since === null || r.deferred.run.createdAt < since)) since = r.deferred.run.createdAt;
    }
    return since;
  }

  private waiting(): FinishRequest[] {
    return [...this.pending, ...[...this.inFlight.keys()].flat()];
  }

  add(req: FinishRequest): void {
    this.pending.push(req);
    this.added++;
    this.kick();
  }

  /**
   * Writes what is queued; resolves once every result queued before the call is written, or when
   * the store refused a batch. Results added meanwhile do not hold it back: under a steady load
   * the queue is never empty.
   */
  flush(): Promise<void> {
    this.kick();
    const upTo = this.added;
    if (this.lanes === 0 || this.writtenBelow() >= upTo) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo, resolve }));
  }

  /** Starts a lane when none runs, and a second one while a full batch waits. */
  private kick(): void {
    if (this.lanes === 0) this.refused = false;
    while (!this.refused && this.pending.length > 0 && (this.lanes === 0 || (this.lanes < LANES && this.pending.length >= BATCH))) {
      this.lanes++;
      void this.lane();
    }
  }

  /** Every result numbered below this is written. */
  private writtenBelow(): number {
    let below = this.added - this.pending.length;
    for (const first of this.inFlight.values()) below = Math.min(below, first);
    return below;
  }

  private async lane(): Promise<void> {
    try {
      while (!this.refused && this.pending.length > 0) {
        const first = this.added - this.pending.length;
        const batch = this.pending.splice(0, BATCH);
        this.inFlight.set(batch, first);
        let results;
        try {
          results = await this.store.finishRuns(batch);
        } catch (err) {
          this.refused = true;
          this.pending.unshift(...batch);
          this.stats.errors++;
          this.log.warn({ runs: batch.length, err: (err as Error).message, pending: this.pending.length }, 'could not record finished runs; keeping them until the store answers');
          return;
        } finally {
          this.inFlight.delete(batch);
        }
        this.stats.recorded += batch.length;
        results.forEach((res, i) => {
          const req = batch[i]!;
          if (!res.applied) this.log.warn({ run: req.runId }, "run was no longer this node's when it finished; result not recorded");
          if (res.retry) {
            this.log.info({ run: req.runId, retry: res.retry.id, attempt: res.retry.attempt, at: new Date(res.retry.notBefore).toISOString() }, 'retry queued');
          }
        });
        const written = this.writtenBelow();
        const answered = this.waiters.filter((w) => w.upTo <= written);
        this.waiters = this.waiters.filter((w) => w.upTo > written);
        for (const w of answered) w.resolve();
      }
    } finally {
      // The queue is empty, or the store refused: every flush waiting has its answer.
      if (--this.lanes === 0) for (const w of this.waiters.splice(0)) w.resolve();
    }
  }
}
