/**
 * Unique ids this worker finished recently. gearmand merges equal ids only while a job is queued
 * or running, so a second client firing the same minute after the first run ended would run it
 * again; remembering ids for a window closes that gap on this worker.
 */
import type { Clock } from '../../clock.js';

export class RecentIds {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  has(id: string): boolean {
    const at = this.seen.get(id);
    if (at === undefined) return false;
    if (this.clock.now() - at >= this.windowMs) {
      this.seen.delete(id);
      return false;
    }
    return true;
  }

  add(id: string): void {
    this.seen.delete(id);
    this.seen.set(id, this.clock.now());
    this.prune();
  }

  get size(): number {
    return this.seen.size;
  }

  /** Map iteration is insertion order, so the oldest entries come first. */
  private prune(): void {
    const cutoff = this.clock.now() - this.windowMs;
    for (const [id, at] of this.seen) {
      if (at > cutoff && this.seen.size <= this.maxEntries) break;
      this.seen.delete(id);
    }
  }
}
