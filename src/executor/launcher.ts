/**
 * Starting a task's process: the one place that forks. A node's RSS is 100 MB and more, and
 * fork copies the page tables of the process that calls it: measured here, fork alone took
 * 4.8 ms from a 150 MB process against 0.3 ms from a small one, and Node's spawn blocks its event
 * loop until the child has called exec. Fifty spawns a second from the node itself kept its event
 * loop busy a quarter of the time and made runs start up to 95 ms late (bench/lateness, spawn).
 *
 * So by default (`executor.spawn: helper`) a small helper process, started on first use, forks the
 * tasks and relays their output and exit; `inline` forks from the calling process. Either way the
 * task leads its own process group, so the caller signals the group directly (process.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What to run: an absolute program path, its arguments and the process attributes. */
export interface LaunchSpec {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string | undefined>;
  uid?: number;
  gid?: number;
}

/** What happens to a launched process, in order: `spawned` once, `output` any number of times, then one of `failed` or `closed`. */
export interface LaunchEvents {
  /** The process runs (exec succeeded); `at` is the wall-clock time its fork began. */
  spawned(pid: number, at: number): void;
  output(fd: 1 | 2, chunk: Buffer): void;
  /** It could not start, or it was lost with the helper; nothing follows. */
  failed(message: string): void;
  /** It exited and its output pipes have closed; nothing follows. */
  closed(code: number | null, signal: string | null): void;
}

/** A launched process's output can be held back while a slow log file catches up. */
export interface Launch {
  pause(): void;
  resume(): void;
  /** A gated launch's program runs now (`spawned` follows); a no-op otherwise. */
  release(): void;
  /** A gated launch that was not released exits 125 without running its program (`closed` follows); a no-op otherwise. */
  discard(): void;
}

/**
 * A gated launch forks ahead of its instant a shell that waits on its stdin and, given a line,
 * execs the task's program (stdin from /dev/null, as for any task); at end of file it exits 125
 * without running it, so a gate whose node or helper dies runs nothing. Releasing it at the
 * instant is a write to a pipe instead of a fork and an exec: a run claimed ahead starts on
 * time however busy forking is then.
 */
const GATE_SCRIPT = 'IFS= read -r cronfleet_gate || exit 125; exec "$0" "$@" </dev/null';
/** The status of a gate closed without a release. */
export const GATE_DISCARDED_STATUS = 125;

/** A launch with no process behind it (not started, or refused): every control is a no-op. */
export const NO_PROCESS: Launch = { pause() {}, resume() {}, release() {}, discard() {} };

export interface Launcher {
  /** `gated`: fork now, run the program on `release()` (see GATE_SCRIPT); `spawned` reports the release. */
  launch(spec: LaunchSpec, events: LaunchEvents, gated?: boolean): Launch;
  /** Gets ready ahead of a launch (starts the helper unless it runs), so the task does not wait for it. */
  prepare(): void;
}

export type SpawnMode = 'helper' | 'inline';

/** Forks from this process; the helper uses it too, so both modes start processes alike. */
export const inlineLauncher: Launcher = {
  prepare() {},
  launch(spec, events, gated = false) {
    let child: ChildProcess;
    const at = Date.now();
    try {
      child = spawn(gated ? '/bin/sh' : spec.file, gated ? ['-c', GATE_SCRIPT, spec.file, ...spec.args] : spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio: [gated ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        ...(spec.uid !== undefined && { uid: spec.uid }),
        ...(spec.gid !== undefined && { gid: spec.gid }),
      });
    } catch (err) {
      events.failed(`could not spawn ${spec.file}: ${(err as Error).message}`);
      return NO_PROCESS;
    }
    let ended = false;
    const streams = [child.stdout, child.stderr];
    if (child.pid !== undefined && !gated) events.spawned(child.pid, at);
    // A gate whose shell died early (killed from outside) refuses the write: 'close' reports it.
    child.stdin?.on('error', () => {});
    let gateOpen = gated;
    const closeGate = (line: string): boolean => {
      if (!gateOpen) return false;
      gateOpen = false;
      child.stdin?.end(line);
      return true;
    };
    streams.forEach((stream, i) => {
      const fd = (i + 1) as 1 | 2;
      stream?.on('data', (chunk: Buffer) => events.output(fd, chunk));
      stream?.on('error', (e) => events.output(2, Buffer.from(`\n[cronfleet] reading the task's output failed: ${e.message}\n`)));
    });
    child.on('error', (e) => {
      // Spawn failures arrive here ('close' follows, and is then not reported); other errors
      // (none expected) are not the end of the process.
      if (child.pid !== undefined || ended) return;
      ended = true;
      events.failed(`could not spawn ${spec.file}: ${e.message}`);
    });
    child.on('close', (code, signal) => {
      if (ended) return;
      ended = true;
      events.closed(code, signal);
    });
    return {
      pause: () => streams.forEach((s) => s?.pause()),
      resume: () => streams.forEach((s) => s?.resume()),
      release: () => {
        if (closeGate('\n') && child.pid !== undefined && !ended) events.spawned(child.pid, Date.now());
      },
      discard: () => void closeGate(''),
    };
  },
};

/** Messages from the caller to the helper. */
export type HelperRequest = { op: 'spawn'; id: number; spec: LaunchSpec; gated: boolean } | { op: 'pause' | 'resume' | 'release' | 'discard'; id: number };
/** Messages from the helper, one launch's in the order its events happened. */
export type HelperReply =
  | { op: 'spawned'; id: number; pid: number; at: number }
  | { op: 'output'; id: number; fd: 1 | 2; chunk: Uint8Array }
  | { op: 'failed'; id: number; message: string }
  | { op: 'closed'; id: number; code: number | null; signal: string | null };

/** The helper's script: beside this module when built, in dist/ when tests run the sources. */
const HELPER_SCRIPT = fileURLToPath(
  import.meta.url.endsWith('.ts') ? new URL('../../dist/executor/launcher-helper.js', import.meta.url) : new URL('./launcher-helper.js', import.meta.url),
);
/** The helper keeps little: a small heap keeps its own forks cheap. */
const HELPER_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=64'];

interface Pending {
  events: LaunchEvents;
  pid: number | null;
}

/** Forks through a helper process, started on first use and again after it exits. */
export class HelperLauncher implements Launcher {
  private helper: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  prepare(): void {
    if (!this.helper) this.hold(this.startHelper(), false);
  }

  launch(spec: LaunchSpec, events: LaunchEvents, gated = false): Launch {
    const helper = this.helper ?? this.startHelper();
    const id = this.nextId++;
    this.pending.set(id, { events, pid: null });
    if (this.pending.size === 1) this.hold(helper, true);
    helper.send({ op: 'spawn', id, spec, gated } satisfies HelperRequest);
    const send = (op: 'pause' | 'resume' | 'release' | 'discard') => (): void => {
      if (this.helper === helper && this.pending.has(id)) helper.send({ op, id } satisfies HelperRequest);
    };
    return { pause: send('pause'), resume: send('resume'), release: send('release'), discard: send('discard') };
  }

  /** Pid of the helper, while one runs (for tests and diagnostics). */
  get helperPid(): number | null {
    return this.helper?.pid ?? null;
  }

  /** Stops the helper; launches still running are lost as when it dies. */
  close(): void {
    this.helper?.kill('SIGKILL');
  }

  private startHelper(): ChildProcess {
    const helper = spawn(process.execPath, [...HELPER_NODE_FLAGS, HELPER_SCRIPT], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.helper = helper;
    let startError: Error | null = null;
    helper.on('message', (m: HelperReply) => this.onReply(m));
    // A failed start reports an error (and a send to it another); 'close' comes last either way,
    // after every message the helper sent has been read.
    helper.on('error', (err) => {
      if (helper.pid === undefined) startError ??= err;
    });
    helper.on('close', (code, signal) =>
      this.onHelperGone(helper, startError ? `could not be started (${startError.message})` : signal ? `was killed by ${signal}` : `exited with status ${code}`),
    );
    return helper;
  }

  /** The helper keeps this process alive only while some launch is outstanding. */
  private hold(helper: ChildProcess, on: boolean): void {
    if (on) {
      helper.ref();
      helper.channel?.ref();
    } else {
      helper.unref();
      helper.channel?.unref();
    }
  }

  private onReply(m: HelperReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.op) {
      case 'spawned':
        p.pid = m.pid;
        p.events.spawned(m.pid, m.at);
        return;
      case 'output':
        p.events.output(m.fd, Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
        return;
      case 'failed':
        this.settle(m.id);
        p.events.failed(m.message);
        return;
      case 'closed':
        this.settle(m.id);
        p.events.closed(m.code, m.signal);
        return;
    }
  }

  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0 && this.helper) this.hold(this.helper, false);
  }

  /**
   * The helper died (or never started): its tasks' output pipes and exit statuses went with it.
   * Each task still running is killed with its group, so no process runs that no run accounts
   * for, and fails with the reason; the next launch starts a new helper.
   */
  private onHelperGone(helper: ChildProcess, how: string): void {
    if (this.helper !== helper) return;
    this.helper = null;
    const lost = [...this.pending];
    this.pending.clear();
    for (const [, p] of lost) {
      if (p.pid !== null) {
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
        p.events.failed(`the process launcher (pid ${helper.pid ?? '?'}) ${how} while the task ran: the task was killed and its exit status is unknown`);
      } else {
        p.events.failed(`the process launcher (pid ${helper.pid ?? '?'}) ${how} before the task started`);
      }
    }
  }
}

let shared: HelperLauncher | null = null;

/** The launcher for a mode: one helper per process, shared by every caller. */
export function launcherFor(mode: SpawnMode): Launcher {
  if (mode === 'inline') return inlineLauncher;
  return (shared ??= new HelperLauncher());
}
