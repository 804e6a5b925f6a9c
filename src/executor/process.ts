import { readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { statFields } from '../proc.js';
import { launcherFor } from './launcher.js';
import type { LaunchSpec } from './launcher.js';
import { LogFile, TailBuffer } from './output.js';
import { findProgram } from './program.js';
import { effectiveTimeout, failedToStart } from './result.js';
import { DEFAULT_KILL_GRACE_MS, DEFAULT_TAIL_BYTES } from './task.js';
import type { CommandTask, TaskHandle, TaskResult, TaskStartOptions } from './task.js';
import { resolveUser } from './user.js';

/** Everything that can be checked before spawning; a string is the reason it cannot start. */
function prepare(task: CommandTask, opts: TaskStartOptions): LaunchSpec | string {
  if (task.argv.length === 0) return 'argv is empty: expected the program followed by its arguments';
  if (task.nice !== undefined && (!Number.isInteger(task.nice) || task.nice < -20 || task.nice > 19)) {
    return `nice ${task.nice} is out of range: expected an integer from -20 to 19`;
  }

  const env: Record<string, string | undefined> = { ...process.env };
  let identity: { uid: number; gid: number } | undefined;
  if (task.user !== undefined) {
    const who = resolveUser(task.user);
    if (!who) return `user "${task.user}" does not exist on this host: expected a user name or uid from its passwd database`;
    const self = process.getuid?.();
    if (self === 0) {
      if (task.nice !== undefined && task.nice < 0) {
        // nice(1) runs after the identity change, and an unprivileged user cannot lower niceness.
        return `nice ${task.nice} cannot be combined with user "${task.user}": expected a nice of 0 or more when dropping privileges`;
      }
      identity = { uid: who.uid, gid: who.gid };
      Object.assign(env, { HOME: who.home, USER: who.name, LOGNAME: who.name });
    } else if (who.uid !== self) {
      return `cannot run as user "${task.user}" (uid ${who.uid}): this node runs as uid ${self ?? 'unknown'} and only root can switch users; expected no user or the node's own`;
    }
  }
  Object.assign(env, task.env, opts.env);

  const cwd = task.cwd !== undefined ? resolve(task.cwd) : process.cwd();
  try {
    if (!statSync(cwd).isDirectory()) return `cwd ${cwd} is not a directory: expected an existing directory`;
  } catch (err) {
    return `cwd ${cwd} cannot be used (${(err as NodeJS.ErrnoException).code ?? String(err)}): expected an existing directory`;
  }

  let argv: string[];
  if (task.shell) {
    // Extra argv entries become $1, $2... of the script, as with `sh -c script name args`.
    argv = ['/bin/sh', '-c', task.argv[0]!, 'sh', ...task.argv.slice(1)];
  } else {
    const found = findProgram(task.argv[0]!, env.PATH, cwd);
    if ('error' in found) return found.error;
    argv = [found.path, ...task.argv.slice(1)];
  }
  if (task.nice !== undefined && task.nice !== 0) {
    // nice(1) sets the niceness before exec, so the task and all it starts inherit it.
    argv = ['nice', '-n', String(task.nice), ...argv];
    const niceBin = findProgram('nice', env.PATH, cwd);
    if ('error' in niceBin) return `nice ${task.nice} needs nice(1) from coreutils: ${niceBin.error}`;
    argv[0] = niceBin.path;
  }
  return { file: argv[0]!, args: argv.slice(1), cwd, env, ...identity };
}

/** Signals every process of the group led by `pid`; false when the group is gone. */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether any process of the group led by `pgid` still runs. Zombies do not count: a member
 * orphaned by the leader's death is re-parented to PID 1, and an init that does not reap (or
 * cronfleet itself as PID 1 in a container) leaves it a zombie that kill(-pgid, 0) still finds.
 * Without /proc (not Linux) the signal test alone answers.
 */
function groupRunning(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    // Fields 3 (state) and 5 (pgrp); null for a process gone since the listing.
    const fields = statFields(Number(entry));
    if (fields && Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

/** How often a stopped task's group is checked for members still running after its leader exited. */
const GROUP_CHECK_MS = 100;

/**
 * Runs a command task in its own process group, started by the launcher the options name (by
 * default the shared helper, see launcher.ts). The run ends when the leader has exited and its
 * output pipes have closed (like cron, which waits for the pipe to reach EOF). A stop (timeout or
 * cancel) sends TERM to the group, and KILL after the grace period to whatever is left of it,
 * even when the leader already exited: a child that ignores TERM dies too. A stop asked before
 * the process has started is carried out as soon as it has.
 */
export function startCommand(task: CommandTask, opts: TaskStartOptions): TaskHandle {
  return launchCommand(task, opts, false).handle;
}

/** A command forked ahead of its instant, behind a gate (see launcher.ts). */
export interface GatedCommand {
  /** Its result, once released; its pid and tails from the release on. */
  handle: TaskHandle;
  /** Runs the program now: the run's start, its timeout counted from here. */
  release(): void;
  /** Lets the gate go without running the program; the handle is then of no use. */
  discard(): void;
}

/** Forks the command's gate now; nothing of the task runs until `release()`. */
export function prestartCommand(task: CommandTask, opts: TaskStartOptions): GatedCommand {
  return launchCommand(task, opts, true);
}

function launchCommand(task: CommandTask, opts: TaskStartOptions, gated: boolean): GatedCommand {
  const requestedAt = Date.now();
  const prepared = prepare(task, opts);
  if (typeof prepared === 'string') {
    const handle = failedToStart(prepared, requestedAt);
    return { handle, release() {}, discard() {} };
  }

  const tailBytes = opts.tailBytes ?? DEFAULT_TAIL_BYTES;
  const out = new TailBuffer(tailBytes);
  const err = new TailBuffer(tailBytes);
  const newLog = (): LogFile | null => (opts.logPath !== undefined ? new LogFile(opts.logPath) : null);
  // Opened when the program starts: a gate let go leaves no empty log file behind.
  let log = gated ? null : newLog();
  let gate: 'waiting' | 'released' | 'discarded' = gated ? 'waiting' : 'released';
  /** A gate that failed before its release reports it at the release, as the run's start. */
  let finishOnRelease = false;
  const graceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  let pid: number | null = null;
  /** When the process was spawned; a task that never started counts from its request. */
  let startedAt = requestedAt;
  let stopping: 'timeout' | 'cancel' | null = null;
  let termSent = false;
  let killSent = false;
  let closed = false;
  let finished = false;
  let exitCode: number | null = null;
  let signal: string | null = null;
  let spawnError: string | null = null;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let groupTimer: NodeJS.Timeout | undefined;
  let settle!: (r: TaskResult) => void;
  const done = new Promise<TaskResult>((r) => (settle = r));

  const finish = async (): Promise<void> => {
    if (finished) return;
    if (gate === 'waiting') {
      finishOnRelease = true;
      return;
    }
    finished = true;
    clearTimeout(timeoutTimer);
    clearTimeout(killTimer);
    clearTimeout(groupTimer);
    const logError = log ? await log.close() : null;
    if (logError) err.push(Buffer.from(`\n[cronfleet] ${logError}\n`));
    settle({
      exitCode: spawnError ? null : exitCode,
      signal: spawnError ? null : signal,
      timedOut: stopping === 'timeout',
      cancelled: stopping === 'cancel',
      error: spawnError,
      stdout: out.text(),
      stderr: err.text(),
      startedAt,
      finishedAt: Date.now(),
    });
  };

  const maybeFinish = (): void => {
    if (!closed || finished) return;
    // After a stop, members that outlive the leader still get their KILL at the end of the
    // grace; the run ends as soon as none is left running.
    if (stopping && termSent && !killSent && pid !== null && !spawnError && groupRunning(pid)) {
      clearTimeout(groupTimer);
      groupTimer = setTimeout(maybeFinish, GROUP_CHECK_MS);
      return;
    }
    void finish();
  };

  /** TERM to the group now, KILL at the end of the grace; needs the pid. */
  const terminate = (): void => {
    if (termSent || pid === null || closed || finished) return;
    termSent = true;
    signalGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => {
      killSent = true;
      signalGroup(pid!, 'SIGKILL');
      maybeFinish();
    }, graceMs);
  };

  const stop = (why: 'timeout' | 'cancel'): void => {
    if (stopping || finished) return;
    stopping = why;
    clearTimeout(timeoutTimer);
    terminate();
  };

  const timeoutMs = effectiveTimeout(opts.timeoutMs, task.timeoutMs);
  const launch = (opts.launcher ?? launcherFor('helper')).launch(prepared, {
    spawned: (p, at) => {
      pid = p;
      startedAt = at;
      if (stopping) terminate();
      else if (timeoutMs !== null) timeoutTimer = setTimeout(() => stop('timeout'), Math.max(0, timeoutMs - (Date.now() - at)));
    },
    output: (fd, chunk) => {
      (fd === 1 ? out : err).push(chunk);
      log?.write(chunk);
    },
    failed: (message) => {
      spawnError = message;
      closed = true;
      void finish();
    },
    closed: (code, sig) => {
      closed = true;
      exitCode = code;
      signal = sig;
      maybeFinish();
    },
  }, gated);
  log?.follow(launch);

  const handle: TaskHandle = {
    get pid() {
      return pid;
    },
    done,
    tails: () => ({ stdout: out.text(), stderr: err.text() }),
    cancel: () => stop('cancel'),
  };
  return {
    handle,
    release: () => {
      if (gate !== 'waiting') return;
      gate = 'released';
      startedAt = Date.now();
      log = newLog();
      log?.follow(launch);
      if (finishOnRelease) void finish();
      else launch.release();
    },
    discard: () => {
      if (gate !== 'waiting') return;
      gate = 'discarded';
      if (finishOnRelease) void finish();
      else launch.discard();
    },
  };
}
