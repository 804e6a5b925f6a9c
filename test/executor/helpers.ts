import { readFileSync, readdirSync } from 'node:fs';
import { isSameProcessAlive, statLineFields } from '../../src/proc.js';

/** Polls `cond` until it holds; fails with `what` when it never does within `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Gone, or a zombie waiting for a parent that is not ours to reap it: either way not running. */
export function isDead(pid: number): boolean {
  return !isSameProcessAlive(pid, null, null);
}

/** nice is field 19 of /proc/<pid>/stat; statLineFields starts at field 3 (state). */
export function niceOfStatLine(line: string): number {
  return Number(statLineFields(line)[16]);
}

/**
 * Pid of a launch gate (launcher.ts) waiting to run a command whose arguments mention `needle`
 * (and whose environment holds `envEntry`, given one), or null when none waits.
 */
export function findGate(needle: string, envEntry?: string): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[0] !== '/bin/sh' || argv[1] !== '-c' || !argv[2]?.startsWith('IFS= read') || !argv.slice(3).some((a) => a.includes(needle))) continue;
    if (envEntry === undefined) return Number(entry);
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(envEntry)) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}
