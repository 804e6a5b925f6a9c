import { readFileSync } from 'node:fs';

/** Polls `cond` until it holds; fails with `what` when it never does within `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Fields of /proc/<pid>/stat after the command name, or null when the process is gone. */
export function procStat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  } catch {
    return null;
  }
}

/** Gone, or a zombie waiting for a parent that is not ours to reap it: either way not running. */
export function isDead(pid: number): boolean {
  const stat = procStat(pid);
  return stat === null || stat[0] === 'Z';
}

/** nice is field 19 of /proc/<pid>/stat; procStat starts at field 3 (state). */
export function niceOfStatLine(line: string): number {
  const fields = line.slice(line.lastIndexOf(')') + 2).trim().split(' ');
  return Number(fields[16]);
}
