import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isSameProcessAlive } from '../../../src/proc.js';
import { DatagramReceiver } from '../../syslog/receiver.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const RCRON_BIN = join(ROOT, 'bin/rcron.js');

export function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'dist/compat/rcron/main.js'))) {
    throw new Error('dist/compat/rcron/main.js is missing: run `npx tsc -p tsconfig.json` before these tests');
  }
}

/** A temp dir with a conf, a state file path, a journal dir and a bound syslog socket. */
export class RcronSandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'cf-rcron-'));
  readonly syslog = new DatagramReceiver();
  readonly stateFile = join(this.dir, 'state');
  readonly journalDir = join(this.dir, 'journal');
  readonly conf = join(this.dir, 'rcron.conf');

  writeConf(extra: Record<string, string> = {}): void {
    const keys: Record<string, string> = {
      cluster_name: 'jobs',
      state_file: this.stateFile,
      default_state: 'active',
      syslog_facility: 'LOG_LOCAL3',
      syslog_level: 'LOG_NOTICE',
      nice_level: '0',
      syslog_socket: this.syslog.path,
      journal_dir: this.journalDir,
      ...extra,
    };
    writeFileSync(this.conf, Object.entries(keys).map(([k, v]) => `${k} = ${v}\n`).join(''));
  }

  /** Messages without the `<PRI>timestamp rcron[pid]: ` prefix, paired with the PRI. */
  lines(): Array<{ pri: number; text: string }> {
    return this.syslog.texts().map((t) => {
      const m = /^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d rcron\[\d+\]: (.*)$/s.exec(t);
      if (!m) throw new Error(`not an RFC 3164 rcron line: ${JSON.stringify(t)}`);
      return { pri: Number(m[1]), text: m[2]! };
    });
  }

  close(): void {
    this.syslog.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `done` waits for the pipes to close too (all output read); `exited` only for rcron itself,
 * for when a job outlives a killed rcron and keeps the pipes open.
 */
export function startRcron(args: string[], cwd?: string): { child: ChildProcess; done: Promise<Finished>; exited: Promise<void> } {
  const child = spawn(process.execPath, [RCRON_BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<Finished>((res) => {
    child.once('close', (code, signal) => res({ code, signal, stdout, stderr }));
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return { child, done, exited };
}

export function runRcron(args: string[], cwd?: string): Promise<Finished> {
  return startRcron(args, cwd).done;
}

/** Polls `pred` until true; fails with `what` after `timeoutMs`. */
export async function waitUntil(pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True while /proc/<pid> names a process that has not finished (zombies count as finished). */
export function running(pid: number): boolean {
  return isSameProcessAlive(pid, null, null);
}
