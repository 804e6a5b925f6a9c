import { spawn } from 'node:child_process';
import { constants, getPriority, setPriority } from 'node:os';
import { openSyslog } from '../../syslog/socket.js';
import type { Syslog } from '../../syslog/socket.js';
import type { RcronConf } from './conf.js';
import { Journal } from './journal.js';
import type { JournalEntry } from './journal.js';
import { readState } from './state.js';

const WARNING = 4;
const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

export interface RcronIo {
  stderr: { write(text: string): unknown };
}

/** argv as one readable line for logs: words with spaces or quotes are JSON-quoted. */
export function showCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function reportInterrupted(conf: RcronConf, log: Syslog, journal: Journal): void {
  for (const e of journal.takeInterrupted()) {
    const c = `cluster=${conf.clusterName}`;
    if ('problem' in e) {
      log.send(WARNING, `${c} ${e.problem} ${e.file} removed`);
      continue;
    }
    const entry = e as JournalEntry;
    log.send(
      WARNING,
      `${c} interrupted pid=${entry.pid} started=${new Date(entry.startedAt).toISOString()}: ${showCommand(entry.command)} ` +
        `(rcron pid ${entry.rcronPid} ended before the job; its outcome is unknown, not relaunched)`,
    );
  }
}

/** niceness = rcron's own + nice_level, clamped as nice(1) does. */
function applyNiceness(conf: RcronConf, log: Syslog): void {
  if (conf.niceLevel === 0) return;
  const target = Math.max(-20, Math.min(19, getPriority(0) + conf.niceLevel));
  try {
    // Set on rcron itself before the spawn, so the job and everything it forks inherit it from
    // its first instruction (setting it on the child afterwards races with its own forks).
    setPriority(0, target);
  } catch (err) {
    log.send(WARNING, `cluster=${conf.clusterName} cannot set niceness ${target} (${(err as NodeJS.ErrnoException).code ?? err}); running at ${getPriority(0)}`);
  }
}

function signalNumber(name: NodeJS.Signals): number {
  return constants.signals[name] ?? 0;
}

/**
 * Runs `argv` when the state says active; resolves to rcron's exit status: the job's own,
 * 128+n when it died of signal n, 0 when passive, 127/126 when it could not start.
 */
export async function runRcron(conf: RcronConf, argv: string[], io: RcronIo = { stderr: process.stderr }): Promise<number> {
  const log = openSyslog({ path: conf.syslogSocket, facility: conf.syslogFacility, tag: 'rcron', stderr: io.stderr });
  const cluster = `cluster=${conf.clusterName}`;
  const journal = new Journal(conf.journalDir, conf.clusterName);
  try {
    reportInterrupted(conf, log, journal);
    const reading = readState(conf.stateFile, conf.defaultState);
    if (reading.problem) log.send(WARNING, `${cluster} ${reading.problem}; using default_state ${reading.state}`);
    if (reading.state === 'passive') {
      log.send(conf.syslogLevel, `${cluster} passive, skipped: ${showCommand(argv)}`);
      return 0;
    }
    applyNiceness(conf, log);
    return await runActive(conf, argv, log, journal, io);
  } finally {
    await log.close();
  }
}

function runActive(conf: RcronConf, argv: string[], log: Syslog, journal: Journal, io: RcronIo): Promise<number> {
  const cluster = `cluster=${conf.clusterName}`;
  const shown = showCommand(argv);
  const started = Date.now();
  return new Promise<number>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    let recorded = false;
    const forward = (sig: NodeJS.Signals) => () => {
      child.kill(sig);
    };
    const handlers = FORWARDED_SIGNALS.map((sig) => [sig, forward(sig)] as const);
    for (const [sig, fn] of handlers) process.on(sig, fn);
    let finished = false;
    const done = (code: number): void => {
      if (finished) return;
      finished = true;
      for (const [sig, fn] of handlers) process.removeListener(sig, fn);
      resolve(code);
    };

    child.once('spawn', () => {
      const pid = child.pid!;
      try {
        journal.add(pid, argv, started);
        recorded = true;
      } catch (err) {
        log.send(WARNING, `${cluster} cannot write the job journal in ${journal.dir} (${(err as NodeJS.ErrnoException).code ?? err}); an interruption of pid ${pid} would go unreported`);
      }
      log.send(conf.syslogLevel, `${cluster} started pid=${pid}: ${shown}`);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      // Only spawn failures arrive here (kill() errors are ignored): exit like a shell would.
      const status = err.code === 'ENOENT' ? 127 : 126;
      io.stderr.write(`rcron: cannot run ${argv[0]}: ${err.code ?? err.message}\n`);
      log.send(WARNING, `${cluster} cannot run ${shown}: ${err.code ?? err.message} status=${status}`);
      done(status);
    });
    child.once('exit', (code, signal) => {
      const status = signal ? 128 + signalNumber(signal) : (code ?? 1);
      if (recorded) journal.remove(child.pid!);
      const seconds = ((Date.now() - started) / 1000).toFixed(3);
      const how = signal ? ` signal=${signal}` : '';
      log.send(conf.syslogLevel, `${cluster} finished pid=${child.pid} status=${status}${how} duration=${seconds}s: ${shown}`);
      done(status);
    });
  });
}
