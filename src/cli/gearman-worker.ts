import { hostname } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULT_WORKER_CONF, loadWorkerConf } from '../compat/distributed-cron/conf.js';
import { DEFAULT_DEDUPE_WINDOW_MS, createCronWorker } from '../compat/distributed-cron/cron-worker.js';
import { RunRecorder } from '../compat/distributed-cron/recorder.js';
import { systemClock } from '../clock.js';
import { outlastsLateBeat } from '../executor/beats.js';
import { DEFAULT_KILL_GRACE_MS } from '../executor/task.js';
import { UsageError } from '../errors.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import { formatDuration, parseDuration } from '../time/duration.js';
import { DEFAULT_SYSLOG_SOCKET, openSyslog, type Syslog } from '../syslog/index.js';

interface WorkerOpts {
  conf: string;
  concurrency: number;
  timeout?: string;
  killGrace: string;
  logDir?: string;
  dedupeWindow: string;
  syslogSocket: string;
  clientId?: string;
  store?: string;
  node: string;
  lease: string;
  heartbeat: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

/** `cronfleet gearman-worker`: distributed-cron's cron_worker.pl, with concurrency and dedupe. */
export function register(program: Command): void {
  program
    .command('gearman-worker')
    .summary('run tasks from gearman job servers (distributed-cron worker drop-in)')
    .description(
      'Registers every task of a distributed-cron worker conf.json with every job server and runs the mapped script (as argv, no shell) when a job arrives. A task name not in the "jobs" map is never run. Scripts exiting 0 answer WORK_COMPLETE, any other end WORK_FAIL. A unique id finished within --dedupe-window is not run again. With "debug": true each run is logged to syslog (facility user, level info). Runs until SIGTERM/SIGINT, then lets running jobs end.',
    )
    .option('--conf <file>', 'worker conf.json: {"job_servers":[...], "jobs":{"name":"/path"}, "debug":false}', DEFAULT_WORKER_CONF)
    .option('--concurrency <n>', 'jobs run at once', positiveInt, 1)
    .option('--timeout <duration>', 'kill a script (its whole process group) after this long, e.g. 30m')
    .option('--kill-grace <duration>', 'after a timeout, wait this long between TERM and KILL to the group', formatDuration(DEFAULT_KILL_GRACE_MS))
    .option('--log-dir <dir>', 'write each run\'s full output to <dir>/<task>.<unique id>.log')
    .option('--dedupe-window <duration>', 'how long finished unique ids are remembered', formatDuration(DEFAULT_DEDUPE_WINDOW_MS))
    .option('--syslog-socket <path>', 'syslog datagram socket for debug messages', DEFAULT_SYSLOG_SOCKET)
    .option('--store <url>', 'record every job as a run in this store (sqlite:PATH or postgres://...), so `cronfleet runs --store URL` shows them')
    .option('--node <name>', 'node name the recorded runs carry (listed by `cronfleet nodes`, offering no store tasks); keep it apart from a `serve` node\'s name', `gearman-worker@${hostname()}`)
    .option('--lease <duration>', 'with --store: a recorded run whose worker misses heartbeats this long is marked lost', '10s')
    .option('--heartbeat <duration>', 'with --store: how often the worker renews its runs\' leases', '2s')
    .option('--client-id <id>', 'name shown by the job server\'s "workers" admin command', `cronfleet@${hostname()}`)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  cronfleet gearman-worker\n' +
        '  cronfleet gearman-worker --conf ./worker.json --concurrency 4 --timeout 1h\n\n' +
        'conf.json example:\n' +
        '  {"job_servers":[{"server":"10.0.0.5","port":4730}],\n' +
        '   "jobs":{"rotate_logs":"/usr/local/bin/rotate-logs.sh"}, "debug":true}\n\n' +
        'Exit status: 0 after a signal-initiated stop, 2 for a bad conf or option.',
    )
    .action(async (opts: WorkerOpts) => {
      const timeoutMs = opts.timeout === undefined ? null : parseDuration(opts.timeout, '--timeout');
      const dedupeWindowMs = parseDuration(opts.dedupeWindow, '--dedupe-window');
      const killGraceMs = parseDuration(opts.killGrace, '--kill-grace');
      const conf = loadWorkerConf(opts.conf);
      const syslog: Syslog | null = conf.debug
        ? openSyslog({ path: opts.syslogSocket, facility: 'user', tag: 'cronfleet-gearman-worker' })
        : null;
      const log = (line: string) => process.stderr.write(`cronfleet gearman-worker: ${line}\n`);
      const leaseMs = parseDuration(opts.lease, '--lease');
      const heartbeatMs = parseDuration(opts.heartbeat, '--heartbeat');
      if (!outlastsLateBeat(leaseMs, heartbeatMs)) throw new UsageError(`--heartbeat (${opts.heartbeat}) must be at most half of --lease (${opts.lease}), or one late beat would lose every run`);
      let store: Store | null = null;
      let recorder: RunRecorder | null = null;
      if (opts.store) {
        store = await openStore(opts.store);
        await store.migrate();
        // Silent for a lease, the worker counts as dead (serve's lease default agrees: 10 s).
        recorder = new RunRecorder({ store, node: opts.node, clock: systemClock, leaseMs, heartbeatMs, nodeTtlMs: leaseMs, log });
        await recorder.start();
      }
      const worker = createCronWorker({
        ...(recorder && { recorder }),
        conf,
        concurrency: opts.concurrency,
        timeoutMs,
        killGraceMs,
        ...(opts.logDir ? { logDir: opts.logDir } : {}),
        dedupeWindowMs,
        syslog,
        log,
        ...(opts.clientId ? { clientId: opts.clientId } : {}),
      });
      await worker.start();
      log(`serving ${Object.keys(conf.jobs).join(', ') || '(no tasks)'} from ${conf.servers.map((s) => `${s.host}:${s.port}`).join(', ')}`);
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log(`${sig}: stopping after ${worker.activeJobs} running job(s)`);
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          resolve();
        };
        const onTerm = () => stop('SIGTERM');
        const onInt = () => stop('SIGINT');
        process.on('SIGTERM', onTerm);
        process.on('SIGINT', onInt);
      });
      await worker.stop();
      await recorder?.stop();
      await syslog?.close();
      await store?.close();
    });
}
