#!/usr/bin/env node
// Runs listing through the HTTP API with 1,000,000 runs in PostgreSQL: requests/s and latency
// percentiles for pages of 100 under one filter at a time (schedule, status, node, time range,
// and a schedule filter paged with `before`). Target: p99 <= 50 ms. Prints one JSON line.
// Needs a build (npx tsc -p tsconfig.json) and PostgreSQL ($CRONFLEET_TEST_PG or
// postgres://postgres@127.0.0.1:5432/test). The runs go into a schema of their own, dropped after.
// The node serving the API runs in a child process so the load generator does not share its event loop.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import pg from 'pg';

const URL = process.env.CRONFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const SECONDS_PER_FILTER = Number(process.env.BENCH_SECONDS ?? 4);
const root = resolve(import.meta.dirname, '..');
const schema = `cf_bench_api_${randomBytes(4).toString('hex')}`;
const BASE = Date.UTC(2026, 0, 1);

// The server: a real node (no scheduler, no tasks) on the bench schema, with one viewer token.
const SERVER = `
import { parseConfigText } from ${JSON.stringify(`${root}/dist/config/load.js`)};
import { startNode } from ${JSON.stringify(`${root}/dist/node/node.js`)};
import { openStore } from ${JSON.stringify(`${root}/dist/store/index.js`)};
import { newToken } from ${JSON.stringify(`${root}/dist/http/auth.js`)};
import { silentLogger } from ${JSON.stringify(`${root}/dist/log/logger.js`)};
const store = await openStore(process.env.PG_URL, { schema: process.env.PG_SCHEMA });
await store.migrate();
const cfg = parseConfigText('node: { name: bench }\\nscheduler: false\\nhttp: { listen: "127.0.0.1:0" }\\n', null);
const node = await startNode(cfg, { log: silentLogger(), store });
const { token, hash } = newToken();
await store.createToken({ name: 'bench', role: 'viewer', hash, now: Date.now() });
process.stdout.write(JSON.stringify({ url: node.http.url, token }) + '\\n');
process.on('SIGTERM', async () => { await node.stop(0); await store.close(); process.exit(0); });
`;

async function fill(c) {
  const t0 = performance.now();
  // One INSERT ... SELECT: 100 schedules, 10 nodes, a run a second, 1 in 20 failed, 1 in 50 timed out.
  await c.query(
    `INSERT INTO ${schema}.runs (schedule, task, scheduled_at, attempt, status, node, not_before, created_at, started_at, finished_at, exit_code)
     SELECT 's' || (i % 100), 'work', $1::int8 + i * 1000, 1,
            CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 50 = 1 THEN 'timed_out' ELSE 'succeeded' END,
            'n' || (i % 10), $1::int8 + i * 1000, $1::int8 + i * 1000, $1::int8 + i * 1000 + 5, $1::int8 + i * 1000 + 900,
            CASE WHEN i % 20 = 0 THEN 1 ELSE 0 END
     FROM generate_series(1, $2::int) AS i`,
    [BASE, ROWS],
  );
  await c.query(`ANALYZE ${schema}.runs`);
  return Math.round(performance.now() - t0);
}

function startServer() {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
      env: { ...process.env, PG_URL: URL, PG_SCHEMA: schema },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolvePromise({ child, ...JSON.parse(line) });
    });
    child.once('exit', (code) => reject(new Error(`bench server exited ${code}`)));
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

// node:http with keep-alive costs the load generator far less CPU than fetch, leaving the
// machine's cores to the server and PostgreSQL being measured.
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });

function get(url, token) {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `CONNECTIONS` loops issuing requests back to back for `seconds`; latencies in ms. */
async function load(url, token, nextPath, seconds) {
  const latencies = [];
  const deadline = performance.now() + seconds * 1000;
  let errors = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, w) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t0 = performance.now();
        const res = await get(url + nextPath(w, i), token);
        latencies.push(performance.now() - t0);
        if (res.status !== 200 || res.body.runs.length !== 100) errors++;
      }
    }),
  );
  return { latencies, errors };
}

const admin = new pg.Client({ connectionString: URL });
await admin.connect();
let server;
try {
  await admin.query(`CREATE SCHEMA ${schema}`);
  // The node migrates the schema; fill it once the tables exist.
  server = await startServer();
  const fillMs = await fill(admin);

  const hour = 3600 * 1000;
  const filters = {
    schedule: (w, i) => `/api/v1/runs?limit=100&schedule=s${(w * 7 + i) % 100}`,
    status: (w, i) => `/api/v1/runs?limit=100&status=${i % 2 ? 'failed' : 'timed_out'}`,
    node: (w, i) => `/api/v1/runs?limit=100&node=n${(w + i) % 10}`,
    timeRange: (w, i) => {
      const from = BASE + ((w * 997 + i * 7919) % (ROWS - 4000)) * 1000;
      return `/api/v1/runs?limit=100&from=${new Date(from).toISOString()}&to=${new Date(from + hour).toISOString()}`;
    },
    // Deep pages: a cursor somewhere in the middle of the history.
    schedulePaged: (w, i) => `/api/v1/runs?limit=100&schedule=s${(w + i) % 100}&before=${1 + ((w * 104729 + i * 15485863) % (ROWS - 20000)) + 20000}`,
  };
  // Warm the caches and the JIT before measuring.
  await load(server.url, server.token, filters.schedule, 1);

  const all = [];
  const byFilter = {};
  let errors = 0;
  let requests = 0;
  let seconds = 0;
  for (const [name, path] of Object.entries(filters)) {
    const r = await load(server.url, server.token, path, SECONDS_PER_FILTER);
    const sorted = r.latencies.sort((a, b) => a - b);
    byFilter[name] = { rps: Math.round(sorted.length / SECONDS_PER_FILTER), p50: +pct(sorted, 50).toFixed(2), p99: +pct(sorted, 99).toFixed(2) };
    all.push(...sorted);
    errors += r.errors;
    requests += sorted.length;
    seconds += SECONDS_PER_FILTER;
  }
  all.sort((a, b) => a - b);
  const p99 = +pct(all, 99).toFixed(2);
  process.stdout.write(
    JSON.stringify({
      bench: 'api-runs-listing',
      rows: ROWS,
      fillMs,
      connections: CONNECTIONS,
      pageSize: 100,
      requests,
      errors,
      rps: Math.round(requests / seconds),
      p50Ms: +pct(all, 50).toFixed(2),
      p99Ms: p99,
      targetP99Ms: 50,
      ok: p99 <= 50 && errors === 0,
      byFilter,
    }) + '\n',
  );
} finally {
  if (server) {
    server.child.removeAllListeners('exit');
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
  }
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  agent.destroy();
}
