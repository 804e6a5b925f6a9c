import { mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootId, isSameProcessAlive, processStartTicks } from '../../proc.js';

/** One started-but-unfinished job. */
export interface JournalEntry {
  /** The job's pid. */
  pid: number;
  /** The job's /proc start time, so a reused pid is not taken for it. */
  startTicks: string | null;
  boot: string | null;
  /** The rcron process that launched it, and its start time. */
  rcronPid: number;
  rcronStartTicks: string | null;
  command: string[];
  /** Epoch ms. */
  startedAt: number;
}

/**
 * A directory per cluster holding one small file per running job. The file is written when the
 * job starts and removed when rcron sees it end; one left behind with no live process means rcron
 * itself died (kill -9, crash, power loss) and nobody saw how the job ended.
 */
export class Journal {
  readonly dir: string;
  constructor(journalDir: string, cluster: string) {
    // Cluster names are free text; keep them one path segment.
    this.dir = join(journalDir, encodeURIComponent(cluster));
  }

  private file(pid: number): string {
    return join(this.dir, `${pid}.json`);
  }

  /** Records a started job; written to a temp file and renamed so a reader never sees half of it. */
  add(pid: number, command: string[], startedAt: number): JournalEntry {
    const entry: JournalEntry = {
      pid,
      startTicks: processStartTicks(pid),
      boot: bootId(),
      rcronPid: process.pid,
      rcronStartTicks: processStartTicks(process.pid),
      command,
      startedAt,
    };
    mkdirSync(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${pid}.${process.pid}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(entry)}\n`);
    renameSync(tmp, this.file(pid));
    return entry;
  }

  remove(pid: number): void {
    try {
      unlinkSync(this.file(pid));
    } catch {
      // Already taken by a concurrent invocation's report: nothing left to do.
    }
  }

  /**
   * Removes and returns the entries whose job is gone. Removal comes first and only its winner
   * reports, so two rcron runs at the same minute never report the same job twice.
   * Unparseable entries are returned with what could be read, never left to pile up.
   */
  takeInterrupted(): Array<JournalEntry | { file: string; problem: string }> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Array<JournalEntry | { file: string; problem: string }> = [];
    for (const name of names) {
      if (!/^\d+\.json$/.test(name)) continue;
      const file = join(this.dir, name);
      let entry: JournalEntry | null = null;
      try {
        entry = JSON.parse(readFileSync(file, 'utf8')) as JournalEntry;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      }
      // While its rcron lives, that rcron records the end (the job may be a zombie for a moment).
      if (entry && isSameProcessAlive(entry.rcronPid, entry.rcronStartTicks, entry.boot)) continue;
      if (entry && isSameProcessAlive(entry.pid, entry.startTicks, entry.boot)) continue;
      try {
        unlinkSync(file);
      } catch {
        continue;
      }
      out.push(entry ?? { file, problem: 'unreadable journal entry' });
    }
    return out;
  }
}
