#!/usr/bin/env node
// Lateness of run starts under load, for a real `cronfleet serve` process.
//   (a) burst: 10,000 schedules `S/10 * * * * *` (S spread over 0-9: 1,000 fires every second in one
//       burst), built-in no-op task; (b) spawn: 50 fires/s of /bin/true.
// On SQLite and on PostgreSQL (127.0.0.1:5432, a scratch database made and dropped here), plus the
// naive floor: the same 10,000 schedules as bare croner timers in one process (no store, no spawn).
// Prints one JSON line per scenario.
// Usage: node bench/lateness.js [--seconds 10] [--stores sqlite,postgres] [--scenarios burst,spawn] [--no-floor]
//        [--spawn helper|inline]   (executor.spawn of the node; helper, the default, also reports the helper's RSS and CPU)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { processCpuTicks } from '../dist/proc.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SECONDS = Number(opt('seconds', '10'));
const STORES = opt('stores', 'sqlite,postgres').split(',');
const SCENARIOS = opt('scenarios', 'burst,spawn').split(',');
const SPAWN = opt('spawn', 'helper');
const FLOOR = !args.includes('--no-floor');
const BIN = fileURLToPath(new URL('../bin/cronfleet.js', import.meta.url));
const PG = 'postgres://postgres@127.0.0.1:5432';
const CLK_TCK = 100;

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(lateness) {
  const s = [...lateness].sort((a, b) => a - b);
  return { n: s.length, p50Ms: pct(s, 50), p99Ms: pct(s, 99), maxMs: s.at(-1) ?? null };
}

function procSample(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
    const ticks = processCpuTicks(pid);
    return ticks === null ? null : { rssMb: rssKb / 1024, cpuS: ticks / CLK_TCK };
  } catch {
    return null;
  }
}

/** The node's process launcher helper (executor.spawn: helper), once it runs: its memory and CPU count too. */
function helperOf(pid) {
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean)) {
      if (readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('launcher-helper')) return Number(child);
    }
  } catch {
    // The node is gone; the caller notices.
  }
  return null;
}

function configFor(scenario, store) {
  const lines = ['node: { name: bench }', `store: ${store}`, 'http: false', 'log: { level: warn }', 'timezone: UTC',
    `executor: { concurrency: 2000, heartbeat: 5s, lease: 30s, spawn: ${SPAWN} }`, 'cluster: { nodeTtl: 15s }', 'tasks:', '  noop: { builtin: noop }', '  true: { command: [/bin/true] }', 'schedules:'];
  if (scenario === 'burst') {
    for (let i = 0; i < 10_000; i++) lines.push(`  - { name: b${i}, cron: "${i % 10}/10 * * * * *", task: noop }`);
  } else {
    // 50 fires a second, spread over the second by a stable per-fire jitter (not one burst).
    for (let i = 0; i < 50; i++) lines.push(`  - { name: s${i}, cron: "* * * * * *", task: "true", jitter: 1s }`);
  }
  return lines.join('\n') + '\n';
}

async function withPgDatabase(fn) {
  const name = `cronfleet_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: `${PG}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    return await fn(`${PG}/${name}`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function runServe(scenario, storeKind) {
  const dir = mkdtempSync(join(tmpdir(), 'cf-bench-'));
  const go = async (storeUrl) => {
    const cfg = join(dir, 'cronfleet.yaml');
    writeFileSync(cfg, configFor(scenario, storeUrl));
    const child = spawn(process.execPath, [BIN, 'serve', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((r) => child.once('exit', r));
    // Warm-up: the first seconds include start-up and the first sync of 10,000 schedules.
    await new Promise((r) => setTimeout(r, 4000));
    const from = Date.now();
    const cpu0 = procSample(child.pid);
    const helper = helperOf(child.pid);
    const helperCpu0 = helper && procSample(helper);
    let maxRss = 0;
    let helperMaxRss = 0;
    const sampler = setInterval(() => {
      const s = procSample(child.pid);
      if (s) maxRss = Math.max(maxRss, s.rssMb);
      const h = helper && procSample(helper);
      if (h) helperMaxRss = Math.max(helperMaxRss, h.rssMb);
    }, 200);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const to = Date.now();
    const cpu1 = procSample(child.pid);
    const helperCpu1 = helper && procSample(helper);
    clearInterval(sampler);
    child.kill('SIGTERM');
    await exited;
    if (!cpu0 || !cpu1) throw new Error(`serve died: ${stderr.slice(-2000)}`);
    const { openStore } = await import('../dist/store/index.js');
    const store = await openStore(storeUrl.startsWith('sqlite:') ? storeUrl : storeUrl);
    const lateness = [];
    let expected = 0;
    let before = undefined;
    for (;;) {
      const page = await store.listRuns({ from: Math.ceil(from / 1000) * 1000, to: Math.floor(to / 1000) * 1000, limit: 5000, ...(before && { before }) });
      if (page.length === 0) break;
      for (const r of page) {
        expected++;
        // From the intended start: the instant, plus the schedule's jitter where it has one.
        if (r.startedAt !== null) lateness.push(r.startedAt - r.notBefore);
      }
      before = page.at(-1).id;
    }
    await store.close();
    const perSecond = scenario === 'burst' ? 1000 : 50;
    const instants = Math.floor(to / 1000) - Math.ceil(from / 1000);
    return {
      bench: 'lateness',
      scenario: scenario === 'burst' ? '10k schedules, 1000 no-op fires/s in one burst' : '50 fires/s spawning /bin/true, spread over each second by jitter',
      latenessFrom: scenario === 'burst' ? 'task start minus intended start (the instant)' : 'task start (its gate opens, for a run forked ahead; else its fork begins) minus intended start (instant + jitter)',
      store: storeKind,
      ...(scenario === 'spawn' && { spawn: SPAWN }),
      seconds: SECONDS,
      firesExpected: instants * perSecond,
      runs: expected,
      started: lateness.length,
      ...summary(lateness),
      rssMaxMb: Math.round(maxRss),
      cpuPercent: Math.round(((cpu1.cpuS - cpu0.cpuS) / ((to - from) / 1000)) * 100),
      ...(helperCpu0 &&
        helperCpu1 && {
          helperRssMaxMb: Math.round(helperMaxRss),
          helperCpuPercent: Math.round(((helperCpu1.cpuS - helperCpu0.cpuS) / ((to - from) / 1000)) * 100),
        }),
    };
  };
  try {
    return storeKind === 'sqlite' ? await go(`sqlite:${join(dir, 'cf.db')}`) : await withPgDatabase(go);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function cronerFloor() {
  // In a child process, so its RSS is the timers' alone.
  const code = `
    import { Cron } from 'croner';
    const late = [];
    const jobs = [];
    // Measured from a second after the last timer is made (creating 10,000 takes seconds here),
    // as the node's figures are taken after its warm-up; from the nearest instant of the timer's
    // own pattern, so a callback that comes a little early counts as early, not as 999 ms late.
    let from = Infinity;
    for (let i = 0; i < 10000; i++) {
      const s = i % 10;
      jobs.push(new Cron(s + '/10 * * * * *', { timezone: 'UTC', sloppyRanges: true }, () => {
        const now = Date.now();
        if (now < from) return;
        const instant = Math.round((now / 1000 - s) / 10) * 10000 + s * 1000;
        late.push(now - instant);
      }));
    }
    from = Date.now() + 1000;
    setTimeout(() => {
      for (const j of jobs) j.stop();
      late.sort((a, b) => a - b);
      const p = (q) => late[Math.min(late.length - 1, Math.ceil(q / 100 * late.length) - 1)];
      console.log(JSON.stringify({ n: late.length, p50Ms: p(50), p99Ms: p(99), maxMs: late.at(-1), rssMb: Math.round(process.memoryUsage().rss / 1048576) }));
    }, ${SECONDS * 1000 + 1000});`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((r) => child.once('exit', r));
  const r = JSON.parse(out);
  return { bench: 'lateness', scenario: 'naive floor: 10k bare croner timers, no store, no spawn', store: 'none', seconds: SECONDS, ...r, rssMaxMb: r.rssMb, rssMb: undefined };
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
if (FLOOR) console.log(JSON.stringify({ ...(await cronerFloor()), load: load() }));
for (const store of STORES) {
  for (const scenario of SCENARIOS) {
    console.log(JSON.stringify({ ...(await runServe(scenario, store)), load: load() }));
  }
}
