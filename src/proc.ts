import { readFileSync } from 'node:fs';

/**
 * Fields of a /proc/<pid>/stat line after the `(comm)` part, which may itself hold spaces and
 * parentheses; index 0 is field 3 (state) of proc(5).
 */
export function statLineFields(line: string): string[] {
  return line.slice(line.lastIndexOf(')') + 2).trim().split(' ');
}

/** statLineFields of /proc/<pid>/stat, or null when the process is gone (or there is no /proc). */
export function statFields(pid: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return statLineFields(text);
}

/** Field 22 (starttime, clock ticks since boot): with the pid it names one process for good. */
export function processStartTicks(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

/** Fields 14 and 15 (utime + stime): the CPU time the process has used, in clock ticks. */
export function processCpuTicks(pid: number): number | null {
  const f = statFields(pid);
  return f ? Number(f[11]) + Number(f[12]) : null;
}

/** Field 19 (nice). */
export function processNiceness(pid: number): number | null {
  const v = statFields(pid)?.[16];
  return v === undefined ? null : Number(v);
}

/** Changes at every boot, so start ticks from an earlier boot never match a live process. */
export function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * True when `pid` still names the process that had `startTicks` at `boot`. A zombie counts as
 * gone: it has finished, only its parent has not collected it.
 */
export function isSameProcessAlive(pid: number, startTicks: string | null, boot: string | null): boolean {
  if (boot !== null && boot !== bootId()) return false;
  const fields = statFields(pid);
  if (!fields) return false;
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  return startTicks === null || fields[19] === startTicks;
}
