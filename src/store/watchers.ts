/** In-process listeners for "runs may have been queued"; a failing listener never breaks the store. */
export class QueuedWatchers {
  private readonly fns = new Set<() => void>();

  add(fn: () => void): () => void {
    // Wrapped so the same function can watch twice and each stop removes one.
    const entry = (): void => fn();
    this.fns.add(entry);
    return () => {
      this.fns.delete(entry);
    };
  }

  get size(): number {
    return this.fns.size;
  }

  /** Calls every listener after the current call stack (never inside a store transaction). */
  notify(): void {
    if (this.fns.size === 0) return;
    queueMicrotask(() => {
      for (const fn of [...this.fns]) {
        try {
          fn();
        } catch {
          // A listener's failure is its own; the store's write already committed.
        }
      }
    });
  }
}
