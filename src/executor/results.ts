import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { FinishRequest } from '../store/types.js';

/** Most finished runs recorded in one store transaction. */
const BATCH = 500;

/**
 * Results of finished runs on their way to the store. Results that arrive while a batch is
 * being written go in the next batch (at a thousand runs a second, one transaction per run
 * could not keep up); a batch the store refuses stays queued and is retried by the next flush
 * (the executor flushes with every heartbeat), so an outage loses nothing.
 */
export class ResultQueue {
  private readonly pending: FinishRequest[] = [];
  private flushing: Promise<void> | null = null;
  readonly stats = { recorded: 0, errors: 0 };

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  /** Runs whose results wait here: they are still `running` in the store, and their leases must hold. */
  pendingRunIds(): number[] {
    return this.pending.map((r) => r.runId);
  }

  add(req: FinishRequest): void {
    this.pending.push(req);
    void this.flush();
  }

  /** Writes what is queued; resolves when the queue is empty or the store refused a batch. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.slice(0, BATCH);
      let results;
      try {
        results = await this.store.finishRuns(batch);
      } catch (err) {
        this.stats.errors++;
        this.log.warn({ runs: batch.length, err: (err as Error).message, pending: this.pending.length }, 'could not record finished runs; keeping them until the store answers');
        return;
      }
      this.pending.splice(0, batch.length);
      this.stats.recorded += batch.length;
      results.forEach((res, i) => {
        const req = batch[i]!;
        if (!res.applied) this.log.warn({ run: req.runId }, "run was no longer this node's when it finished; result not recorded");
        if (res.retry) {
          this.log.info({ run: req.runId, retry: res.retry.id, attempt: res.retry.attempt, at: new Date(res.retry.notBefore).toISOString() }, 'retry queued');
        }
      });
    }
  }
}
