import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { repeat, type Repeating } from '../repeat.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';

export interface PrunerOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  dataDir: string;
  maxAgeMs: number | null;
  keepPerSchedule: number | null;
  everyMs: number;
}

/**
 * Deletes finished runs per the retention config, and their log files. Any node may prune (a row
 * is deleted once, whoever does it), so each node also removes the logs on its own disk whose run
 * another node pruned. Fires are kept: they are what makes an instant fire only once.
 */
export class Pruner {
  private repeating: Repeating | null = null;

  constructor(private readonly opts: PrunerOptions) {}

  start(): void {
    this.repeating = repeat(
      this.opts.clock,
      this.opts.everyMs,
      () => this.pruneOnce(),
      (err) => this.opts.log.warn({ err: (err as Error).message }, 'pruning runs failed; will try again'),
      0,
    );
  }

  async stop(): Promise<void> {
    await this.repeating?.stop();
    this.repeating = null;
  }

  async pruneOnce(): Promise<{ runs: number; files: number }> {
    const { store, clock, maxAgeMs, keepPerSchedule } = this.opts;
    const now = clock.now();
    const result = await store.pruneRuns({
      ...(maxAgeMs !== null && { finishedBefore: now - maxAgeMs }),
      ...(keepPerSchedule !== null && { keepPerSchedule }),
    });
    let files = 0;
    for (const path of result.logPaths) if (await removed(path)) files++;
    files += await this.sweepOrphans(now);
    if (result.deleted > 0 || files > 0) this.opts.log.info({ runs: result.deleted, files }, 'pruned finished runs');
    return { runs: result.deleted, files };
  }

  /** Log files here whose run is gone (pruned by another node). Recent files are left alone: their run may be starting. */
  private async sweepOrphans(now: number): Promise<number> {
    const dir = join(this.opts.dataDir, 'logs');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return 0;
    }
    let n = 0;
    for (const name of names) {
      const m = /^(\d+)\.log$/.exec(name);
      if (!m) continue;
      const path = join(dir, name);
      const info = await stat(path).catch(() => null);
      if (!info || now - info.mtimeMs < 60_000) continue;
      if ((await this.opts.store.getRun(Number(m[1]))) === null && (await removed(path))) n++;
    }
    return n;
  }
}

async function removed(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch {
    return false;
  }
}
