#!/usr/bin/env node
/**
 * Gearman benchmark: our client/worker against Perl's Gearman::Client/Gearman::Worker, all in one
 * run through one local gearmand. Every client and worker is its own process; workers print one
 * line per job (`<start ms> <submit ms>`) and the figures come from those lines.
 *
 * Both sides are measured at the same points, so the pairs compare like for like:
 * - submit: the client reads the clock just before its submit call (`submitBackground`,
 *   `dispatch_background`), which on both sides returns once gearmand answers JOB_CREATED;
 * - start: the worker reads the clock first thing in its handler, called in-process on both
 *   sides (no task process is spawned by either), then prints the line;
 * - clock: CLOCK_MONOTONIC on both sides (`process.hrtime`, `Time::HiRes::clock_gettime`), one
 *   clock for every process on the machine, so mixed pairs need no wall-clock agreement.
 * - pacing and warm-up: before its paced jobs, each latency client submits WARMUP jobs through
 *   the same worker, the last WARMUP_PACED of them 1 ms apart, and waits until that worker has
 *   run them all; then it sleeps the same pace after each submit returns (Node's timers round
 *   it up to the next ms, so ours paces slightly slower). Every pair gets the same warm-up,
 *   whether it needs one or not.
 * - our processes start as `cronfleet` does: V8's helper threads at nice 19 (helper-threads).
 *
 *   node bench/gearman.js [--jobs N] [--latency-jobs N] [--rounds N] [--combos ours,perl,...]
 *
 * Prints one JSON line. Needs `npx tsc -p tsconfig.json` first (imports ../dist).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { GearmanClient } from '../dist/gearman/client.js';
import { GearmanWorker } from '../dist/gearman/worker.js';
import { serverStatus } from '../dist/gearman/admin.js';
import { asCronfleet } from './as-cronfleet.js';

const SELF = fileURLToPath(import.meta.url);
// V8 keeps tiering up the hot path of a fresh Node process for its first ten thousand or so
// jobs; the optimizing compiles run on helper threads and, on a 2-core machine shared with
// gearmand and the peer, stall a job here and there. Measured on the first 1000 paced jobs after
// 50 warm-up jobs, our worker and client gave p99 3.6-4.3 ms; after 2000, 1.0-1.2 ms, and
// `perf sched` still showed a helper thread holding a CPU for 1-4 ms in front of a woken
// gearmand thread in most of the slow jobs. With --trace-opt, a client submitting every 1 ms
// still compiled functions 14 s in (about 11,000 jobs). A long-running worker pays those
// compiles once, so the figures are taken after them.
const WARMUP = 10_000;
// The last warm-up jobs are paced, shorter, so they take the measured path (worker asleep,
// NOOP, grab; client timer, submit) rather than only a busy one that leaves the idle path
// cold. The rest go back to back: V8 tiers up on calls made, not on time passed.
const WARMUP_PACED = 2000;
const WARMUP_PACE_MS = 1;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

const PERL_WORKER = String.raw`
use strict; use warnings;
use Gearman::Worker; use Time::HiRes ();
$| = 1;
my ($server, $func) = @ARGV;
my $w = Gearman::Worker->new(job_servers => [$server]);
$w->register_function($func => sub {
  my $job = shift;
  printf "%.3f %s\n", Time::HiRes::clock_gettime(Time::HiRes::CLOCK_MONOTONIC()) * 1000, $job->arg;
  return 1;
});
$w->work while 1;
`;

const PERL_CLIENT = String.raw`
use strict; use warnings;
use Gearman::Client; use Time::HiRes ();
$| = 1;
my ($server, $func, $n, $pace_ms, $warmup) = @ARGV;
my $WARMUP_PACE_MS = ${WARMUP_PACE_MS};
my $WARMUP_PACED = ${WARMUP_PACED};
my $c = Gearman::Client->new(job_servers => [$server]);
if ($warmup > 0) {
  for my $i (1 .. $warmup) {
    defined $c->dispatch_background($func, "0", { uniq => "$func-warm-$i" }) or die "warm-up submit $i failed\n";
    Time::HiRes::sleep($WARMUP_PACE_MS / 1000) if $i > $warmup - $WARMUP_PACED;
  }
  print "warm\n";
  defined <STDIN> or die "no go-ahead after the warm-up\n";
}
for my $i (1 .. $n) {
  my $t = sprintf "%.3f", Time::HiRes::clock_gettime(Time::HiRes::CLOCK_MONOTONIC()) * 1000;
  defined $c->dispatch_background($func, $t, { uniq => "$func-$t-$i" }) or die "submit $i failed\n";
  Time::HiRes::sleep($pace_ms / 1000) if $pace_ms > 0;
}
print "ok\n";
`;

// ---- roles run as child processes ----

async function roleWorker(server, func) {
  const [host, port] = server.split(':');
  const worker = new GearmanWorker({
    servers: [{ host, port: Number(port) }],
    functions: [func],
    concurrency: 1,
    handler: async (job) => {
      process.stdout.write(`${nowMs().toFixed(3)} ${job.data.toString()}\n`);
      return { status: 'complete', data: '1' };
    },
  });
  await worker.start();
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await worker.stop();
}

async function roleClient(server, func, n, paceMs, warmup) {
  const [host, port] = server.split(':');
  const client = new GearmanClient({ servers: [{ host, port: Number(port) }] });
  if (warmup > 0) {
    for (let i = 1; i <= warmup; i++) {
      await client.submitBackground(func, '0', { unique: `${func}-warm-${i}` });
      if (i > warmup - WARMUP_PACED) await sleep(WARMUP_PACE_MS);
    }
    process.stdout.write('warm\n');
    await new Promise((resolve) => process.stdin.once('data', resolve));
    process.stdin.destroy();
  }
  for (let i = 1; i <= n; i++) {
    const t = nowMs().toFixed(3);
    // One job in flight at a time, as Perl's dispatch_background does.
    await client.submitBackground(func, t, { unique: `${func}-${t}-${i}` });
    if (paceMs > 0) await sleep(paceMs);
  }
  client.close();
  process.stdout.write('ok\n');
}

// ---- orchestration ----

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(cond, what, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function startWorker(kind, dir, server, func) {
  const argv = kind === 'perl' ? ['perl', [path.join(dir, 'worker.pl'), server, func]] : [process.execPath, asCronfleet(SELF, ['--role', 'worker', server, func])];
  const proc = track(spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const lines = [];
  let buf = '';
  proc.stdout.on('data', (d) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const l of parts) {
      const [start, submit] = l.split(' ').map(Number);
      lines.push({ start, submit });
    }
  });
  return { proc, lines };
}

/**
 * Runs a client to its end. With `warmup`, the client first submits that many warm-up jobs
 * and waits; `warmedUp` resolves once they have all run, and then the client goes on.
 */
function runClient(kind, dir, server, func, n, paceMs, warmup = 0, warmedUp = async () => {}) {
  const params = [server, func, String(n), String(paceMs), String(warmup)];
  const argv = kind === 'perl' ? ['perl', [path.join(dir, 'client.pl'), ...params]] : [process.execPath, asCronfleet(SELF, ['--role', 'client', ...params])];
  const proc = track(spawn(argv[0], argv[1], { stdio: ['pipe', 'pipe', 'inherit'] }));
  let out = '';
  let released = false;
  proc.stdout.on('data', (d) => {
    out += d.toString();
    if (!released && out.includes('warm\n')) {
      released = true;
      warmedUp().then(
        () => proc.stdin.end('go\n'),
        (err) => {
          process.stderr.write(`bench/gearman: ${err.message}\n`);
          proc.kill();
        },
      );
    }
  });
  return new Promise((resolve, reject) =>
    proc.on('close', (code) => (code === 0 && out.includes('ok') ? resolve() : reject(new Error(`${kind} client exited ${code}`)))),
  );
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function stopProc(proc) {
  if (proc.exitCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(t);
}

async function combo(name, clientKind, workerKind, dir, gd, jobs, latencyJobs) {
  const server = `127.0.0.1:${gd.port}`;
  const func = `bench_${name}`;
  const addr = { host: '127.0.0.1', port: gd.port };
  const registered = async () => (await serverStatus(addr)).find((f) => f.function === func)?.workers === 1;

  // Drain: the queue is filled first, then one worker empties it.
  await runClient(clientKind, dir, server, `${func}_drain`, jobs, 0);
  const drainWorker = startWorker(workerKind, dir, server, `${func}_drain`);
  await waitFor(() => drainWorker.lines.length === jobs, `${name} drain`, 120_000);
  const drain = drainWorker.lines;
  const drainPerS = (jobs - 1) / ((drain[drain.length - 1].start - drain[0].start) / 1000);
  await stopProc(drainWorker.proc);

  const w = startWorker(workerKind, dir, server, func);
  await waitFor(registered, `${name} worker registered`);
  // Latency: paced submits so each job finds the worker asleep, as a cron tick does, after the
  // same warm-up for every pair (see WARMUP).
  const total = WARMUP + latencyJobs;
  await runClient(clientKind, dir, server, func, latencyJobs, 5, WARMUP, () => waitFor(() => w.lines.length >= WARMUP, `${name} warm-up`, 120_000));
  await waitFor(() => w.lines.length === total, `${name} latency jobs`);
  const lat = w.lines.slice(WARMUP, total).map((l) => l.start - l.submit);
  // Throughput: submit as fast as the client can while the worker runs them.
  await runClient(clientKind, dir, server, func, jobs, 0);
  await waitFor(() => w.lines.length === total + jobs, `${name} throughput jobs`, 120_000);
  const tp = w.lines.slice(total);
  const firstSubmit = tp[0].submit;
  const last = tp[tp.length - 1].start;
  await stopProc(w.proc);
  return {
    jobs_per_s: round(jobs / ((last - firstSubmit) / 1000), 0),
    drain_jobs_per_s: round(drainPerS, 0),
    lat,
  };
}

/** Every process this run started, so an interrupted run leaves none behind. */
const children = new Set();
function track(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--role') {
    if (args[1] === 'worker') return roleWorker(args[2], args[3]);
    return roleClient(args[2], args[3], Number(args[4]), Number(args[5]), Number(args[6] ?? 0));
  }
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const jobs = opt('--jobs', 5000);
  const latencyJobs = opt('--latency-jobs', 2000);
  const rounds = opt('--rounds', 5);
  const combosAt = args.indexOf('--combos');
  const only = combosAt >= 0 ? String(args[combosAt + 1] ?? '').split(',') : null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-bench-gearman-'));
  writeFileSync(path.join(dir, 'worker.pl'), PERL_WORKER);
  writeFileSync(path.join(dir, 'client.pl'), PERL_CLIENT);
  const port = await freePort();
  // The pid file goes to the temp dir: --pid-file=/dev/null would make gearmand delete /dev/null.
  const gd = track(
    spawn('/usr/sbin/gearmand', ['--listen=127.0.0.1', `--port=${port}`, '--log-file=none', `--pid-file=${path.join(dir, 'pid')}`], {
      stdio: 'ignore',
    }),
  );
  // Stopped halfway (Ctrl-C, kill): gearmand, workers and clients go too, and the temp dir.
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]]) {
    process.once(sig, () => {
      for (const p of children) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      process.exit(128 + n);
    });
  }
  gd.port = port;
  try {
    await waitFor(() => canConnect(port), 'gearmand');
    const version = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write('version\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().trim().replace(/^OK /, ''));
      });
    });
    const combos = [
      ['ours', 'ours', 'ours'],
      ['perl', 'perl', 'perl'],
      ['ours_client_perl_worker', 'ours', 'perl'],
      ['perl_client_ours_worker', 'perl', 'ours'],
    ].filter(([name]) => only === null || only.includes(name));
    if (combos.length === 0) throw new Error(`--combos ${only.join(',')}: expected some of ours, perl, ours_client_perl_worker, perl_client_ours_worker`);
    // Rounds interleave the combos so a burst of load from elsewhere on the machine hits all of
    // them alike, and each round starts one combo further on, so none always runs first or
    // always after the same one; see below for how rounds combine.
    const runs = Object.fromEntries(combos.map(([name]) => [name, []]));
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < combos.length; k++) {
        const [name, c, w] = combos[(r + k) % combos.length];
        runs[name].push(await combo(`${name}_${r}`, c, w, dir, gd, jobs, latencyJobs));
      }
    }
    // Throughput: the median over rounds. Latency: quantiles of every round's paced jobs pooled,
    // so the p99 stands on rounds × latency-jobs samples rather than on one round's ten slowest.
    const results = {};
    for (const [name] of combos) {
      const pooled = runs[name].flatMap((x) => x.lat);
      results[name] = {
        jobs_per_s: quantile(runs[name].map((x) => x.jobs_per_s), 0.5),
        drain_jobs_per_s: quantile(runs[name].map((x) => x.drain_jobs_per_s), 0.5),
        p50_submit_to_start_ms: round(quantile(pooled, 0.5)),
        p99_submit_to_start_ms: round(quantile(pooled, 0.99)),
      };
    }
    const line = {
      bench: 'gearman',
      gearmand: version,
      jobs,
      latency_jobs: latencyJobs,
      latency_samples: latencyJobs * rounds,
      rounds,
      warmup_jobs: WARMUP,
      cpus: os.cpus().length,
      ...results,
      ...(results.ours && results.perl && {
        ours_vs_perl_throughput: round(results.ours.jobs_per_s / results.perl.jobs_per_s),
        ours_vs_perl_drain: round(results.ours.drain_jobs_per_s / results.perl.drain_jobs_per_s),
      }),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } finally {
    gd.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/gearman: ${err.stack ?? err}\n`);
  process.exit(1);
});
