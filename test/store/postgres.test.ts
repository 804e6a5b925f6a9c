import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError, ConflictError } from '../../src/errors.js';
import { openStore } from '../../src/store/index.js';
import { PgDb, preparedRows } from '../../src/store/postgres/db.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { Store } from '../../src/store/store.js';
import { RENEW_LEASES } from '../../src/store/postgres/nodes.js';
import { CLAIM_RUNS, DEAD_NODE_RUNS, finishRunsStatement, finishRunsTx } from '../../src/store/postgres/runs.js';
import { defineStoreConformance } from './conformance.js';
import { MIN, T0, fireOpts, nodeInfo, plan, spec } from './fixtures.js';
import { PG_ADMIN_URL } from '../helpers/pg.js';

const URL = PG_ADMIN_URL;
// Test files run in parallel against one database: every schema this file makes carries its prefix.
const prefix = `cf_store_${randomBytes(4).toString('hex')}`;
let n = 0;

async function dropSchemas(): Promise<void> {
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    const { rows } = await c.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`${prefix}%`]);
    for (const r of rows) await c.query(`DROP SCHEMA ${r.nspname} CASCADE`);
  } finally {
    await c.end();
  }
}

/** Resolves once some session waits on a lock held by `holder`'s session. */
async function waitForLock(holder: pg.Client): Promise<void> {
  const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  for (let i = 0; i < 200; i++) {
    const waiting = await holder.query('SELECT 1 FROM pg_locks l WHERE NOT l.granted AND $1 = ANY(pg_blocking_pids(l.pid))', [rows[0]!.pid]);
    if (waiting.rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no session came to wait on the held lock within 5 s');
}

/** A store in a new schema of its own, and a second session in that schema beside it. */
async function withSchema(name: string, fn: (store: Store, c: pg.Client) => Promise<void>): Promise<void> {
  const schema = `${prefix}_${name}`;
  const store = await openIn(schema)();
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    await c.query(`SET search_path = ${schema}`);
    await fn(store, c);
  } finally {
    await c.end();
    await store.close();
  }
}

function openIn(schema: string) {
  return async () => {
    const s = await openStore(URL, { schema });
    await s.migrate();
    return s;
  };
}

defineStoreConformance('postgres', {
  async storage() {
    return { open: openIn(`${prefix}_${++n}`) };
  },
  cleanup: dropSchemas,
});

describe('postgres store specifics', () => {
  afterAll(dropSchemas);

  test("a connection cut in the very chunk that frees it, for a transaction waiting on the pool, fails that transaction and not the process", async () => {
    // A proxy to PostgreSQL that can hold what the server sends on one connection, then pass it on in one write.
    const held: Buffer[] = [];
    let holding: net.Socket | null = null;
    let serverGone: () => void = () => undefined;
    const gone = new Promise<void>((resolve) => (serverGone = resolve));
    const conns: net.Socket[] = [];
    const proxy = net.createServer((client) => {
      const server = net.connect(5432, '127.0.0.1');
      conns.push(client);
      client.on('data', (d) => server.write(d));
      server.on('data', (d) => (holding === client ? held.push(d) : client.write(d)));
      server.on('close', () => (holding === client ? serverGone() : client.destroy()));
      client.on('close', () => server.destroy());
      client.on('error', () => {});
      server.on('error', () => {});
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as net.AddressInfo).port;
    const db = new PgDb(`postgres://postgres@127.0.0.1:${port}/test`, 'public');
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    try {
      // Nine of the pool's ten connections sleep; the tenth serves one query, then the waiting transaction.
      const sleeping = Array.from({ length: 9 }, () => db.query('SELECT pg_sleep(1.5)'));
      while (conns.length < 9) await new Promise((r) => setTimeout(r, 10));
      const marker = `cut_${randomBytes(4).toString('hex')}`;
      const last = db.query(`SELECT '${marker}' AS m, pg_sleep(0.5)`);
      const backend = async (state: string): Promise<number> => {
        for (;;) {
          const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND state = $2', [`%'${marker}'%`, state]);
          if (rows[0]) return rows[0].pid;
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      // Connected and at work: from here what the server sends on that connection waits in the proxy.
      await backend('active');
      holding = conns[9]!;
      const waiting = db.tx((c) => c.query('SELECT 1'));
      // The tenth query ends (its answer held), then its backend is cut: the FATAL follows in the same write.
      const pid = await backend('idle');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await gone;
      holding.write(Buffer.concat(held.splice(0)));
      holding.end();
      expect(await last).toEqual([{ m: marker, pg_sleep: '' }]);
      await expect(waiting).rejects.toThrow(/connection/);
      await Promise.all(sleeping);
      // The pool goes on with new connections.
      expect(await db.tx(async (c) => (await c.query('SELECT 2 AS two')).rows)).toEqual([{ two: 2 }]);
    } finally {
      await admin.end();
      await db.close();
      proxy.close();
    }
  });

  test('migrations apply from zero in a new schema, once, even when stores start together', async () => {
    const schema = `${prefix}_mig`;
    const stores = await Promise.all([1, 2, 3].map(() => openStore(URL, { schema })));
    await Promise.all(stores.map((s) => s.migrate()));
    await stores[0]!.migrate();
    await Promise.all(stores.map((s) => s.close()));
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    try {
      const versions = await c.query(`SELECT version, name FROM ${schema}.schema_migrations`);
      const tables = await c.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema]);
      expect(versions.rows).toEqual([
      { version: 1, name: 'init' },
      { version: 2, name: 'api_access' },
      { version: 3, name: 'node_scheduler' },
      { version: 4, name: 'schedule_revision' },
      { version: 5, name: 'schedule_revision_at_commit' },
      { version: 6, name: 'runs_by_status_final' },
      { version: 7, name: 'node_executing' },
      { version: 8, name: 'node_planned' },
      { version: 9, name: 'schedules_fillfactor' },
      { version: 10, name: 'deferred_runs' },
    ]);
      expect(tables.rows.map((r: { table_name: string }) => r.table_name)).toEqual(['api_tokens', 'audit_log', 'fires', 'leases', 'nodes', 'runs', 'schedule_revision', 'schedules', 'schema_migrations']);
    } finally {
      await c.end();
    }
  });

  test('writers changing schedules in crossing order do not deadlock on the revision, which moves once per transaction', async () => {
    const schema = `${prefix}_rev`;
    const store = await openStore(URL, { schema });
    await store.migrate();
    await store.syncConfigSchedules([spec('a'), spec('b')], T0);
    const before = await store.schedulesRevision();
    const [long, single] = [new pg.Client({ connectionString: URL }), new pg.Client({ connectionString: URL })];
    await Promise.all([long.connect(), single.connect()]);
    try {
      for (const c of [long, single]) await c.query(`SET search_path TO ${schema}; SET lock_timeout = '10s'`);
      // A transaction of several statements changes a, then b; meanwhile a single statement
      // elsewhere changes b. When the revision moved at each statement, the single one waited for
      // it while holding b, and the long one, holding it, then waited for b: PostgreSQL found the
      // deadlock and failed one of them (a config sync inserting a name an API put had just
      // inserted was one way to get there).
      await long.query('BEGIN');
      await long.query("UPDATE schedules SET paused = true WHERE name = 'a'");
      await single.query("UPDATE schedules SET paused = true WHERE name = 'b'");
      await long.query("UPDATE schedules SET paused = false WHERE name = 'b'");
      await long.query('COMMIT');
      expect(await store.schedulesRevision()).toBe(before + 2);
      // Crossing the other way: the single writer waits for b's lock, then both commit.
      await long.query('BEGIN');
      await long.query("UPDATE schedules SET paused = false WHERE name = 'b'");
      const waiting = single.query("UPDATE schedules SET paused = true WHERE name = 'b'");
      await long.query("UPDATE schedules SET paused = false WHERE name = 'a'");
      await long.query('COMMIT');
      await waiting;
      expect(await store.schedulesRevision()).toBe(before + 4);
      const paused = await single.query('SELECT name, paused FROM schedules ORDER BY name');
      expect(paused.rows).toEqual([
        { name: 'a', paused: false },
        { name: 'b', paused: true },
      ]);
    } finally {
      await Promise.all([long.end(), single.end(), store.close()]);
    }
  });

  test('a config sync that meets a new name an API put inserted meanwhile ends in the same conflict as when it finds it', async () => {
    const schema = `${prefix}_race`;
    const store = await openStore(URL, { schema });
    await store.migrate();
    await store.syncConfigSchedules([spec('a')], T0);
    const api = new pg.Client({ connectionString: URL });
    // Watches from outside the put's transaction: inside it, pg_stat_activity is a snapshot
    // taken at its first read and kept until the transaction ends.
    const observer = new pg.Client({ connectionString: URL });
    await Promise.all([api.connect(), observer.connect()]);
    try {
      await api.query(`SET search_path TO ${schema}`);
      // The put's row exists, uncommitted, when the sync starts: the sync cannot lock it, and its
      // insert of the same name waits for the put to end.
      await api.query('BEGIN');
      // What putApiSchedule inserts for a new name, left uncommitted.
      await api.query(`INSERT INTO schedules SELECT (jsonb_populate_record(NULL::schedules, to_jsonb(s) || '{"name": "b", "source": "api"}')).* FROM schedules s WHERE name = 'a'`);
      const sync = store.syncConfigSchedules([spec('a'), spec('b')], T0 + 1).then(
        () => null,
        (err: unknown) => err,
      );
      // Commit only once the sync's insert waits for this transaction, so its insert is what meets the name.
      const waiting = async () =>
        (await observer.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO schedules%'")).rowCount! > 0;
      for (let i = 0; i < 500 && !(await waiting()); i++) await new Promise((r) => setTimeout(r, 10));
      expect(await waiting()).toBe(true);
      await api.query('COMMIT');
      const err = await sync;
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).toBe('schedule "b" is in the config and was also made through the API: delete the API schedule or rename one');
      expect((await store.getSchedule('b'))?.source).toBe('api');
    } finally {
      await Promise.all([api.end(), observer.end(), store.close()]);
    }
  });

  test('postgresql:// is accepted and a bad schema name is a ConfigError', async () => {
    const s = await openStore(URL.replace('postgres://', 'postgresql://'), { schema: `${prefix}_alt` });
    expect(s).toBeInstanceOf(PostgresStore);
    await s.migrate();
    expect(typeof (await s.clockNow())).toBe('number');
    await s.close();
    await expect(openStore(URL, { schema: 'Bad-Name; DROP' })).rejects.toThrow(ConfigError);
  });

  test("NOTIFY wakes another process's store, and the listener reconnects after its connection dies", async () => {
    const schema = `${prefix}_notify`;
    const a = (await openStore(URL, { schema })) as PostgresStore;
    const b = (await openStore(URL, { schema })) as PostgresStore;
    await a.migrate();
    try {
      let wakes = 0;
      const stop = b.watchQueued(() => wakes++);
      await b.listening();
      await a.syncConfigSchedules([spec('a')], T0);
      await a.registerNode(nodeInfo('n1'), T0);
      const waitWake = async (above: number): Promise<void> => {
        for (let i = 0; i < 200 && wakes <= above; i++) await new Promise((r) => setTimeout(r, 25));
      };
      await a.triggerSchedule('a', fireOpts(T0 + 1));
      await waitWake(0);
      expect(wakes).toBeGreaterThan(0);

      // Kill the LISTEN session from outside: the store reconnects and wakes its watchers once.
      const admin = new pg.Client({ connectionString: URL });
      await admin.connect();
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN cronfleet_queued_%' AND query LIKE $1", [`%${schema}`]);
      await admin.end();
      const afterKill = wakes;
      await waitWake(afterKill); // the reconnect itself wakes
      expect(wakes).toBeGreaterThan(afterKill);
      const afterReconnect = wakes;
      await a.triggerSchedule('a', fireOpts(T0 + 2));
      await waitWake(afterReconnect);
      expect(wakes).toBeGreaterThan(afterReconnect);
      stop();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('a finish and a heartbeat find each run by its id and a claim walks the queue alone, on a table analyzed or not', async () => {
    await withSchema('plans', async (_store, c) => {
      // A busy node's table: 100,000 runs finished, 10,000 running on one node, none queued.
      await c.query(`INSERT INTO runs (schedule, task, scheduled_at, attempt, status, node, not_before, created_at, started_at, finished_at)
        SELECT 's' || (i % 1000), 'work', i, 1, CASE WHEN i > 100000 THEN 'running' ELSE 'succeeded' END, 'a', i, i, i,
          CASE WHEN i > 100000 THEN NULL ELSE i END FROM generate_series(1, 110000) i`);
      const running = (await c.query<{ id: string }>("SELECT id FROM runs WHERE status = 'running' ORDER BY id LIMIT 500")).rows.map((r) => Number(r.id));
      const held = `{${(await c.query<{ id: string }>("SELECT id FROM runs WHERE status = 'running'")).rows.map((r) => r.id).join(',')}}`;
      const finish = finishRunsStatement(running.map((id) => ({ runId: id, node: 'a', status: 'succeeded', now: T0, exitCode: 0, signal: null, reason: null, output: { stdout: '', stderr: '' } })));
      // The indexes a plan reads, in order; `under` keeps only those below nodes of that type.
      const indexesOf = async (sql: string, params: unknown[], under?: string): Promise<string[]> => {
        const [row] = (await c.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows;
        const found: string[] = [];
        const walk = (node: Record<string, unknown>, inside: boolean): void => {
          const here = inside || node['Node Type'] === under;
          if (here && typeof node['Index Name'] === 'string') found.push(node['Index Name']);
          if (here && node['Node Type'] === 'Seq Scan') found.push(`seq scan of ${String(node['Relation Name'])}`);
          for (const child of (node.Plans as Array<Record<string, unknown>> | undefined) ?? []) walk(child, here);
        };
        walk((row!['QUERY PLAN'] as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan, under === undefined);
        return found;
      };
      for (const analyzed of [false, true]) {
        if (analyzed) await c.query('ANALYZE runs');
        expect(await indexesOf(finish.text, finish.values), `finish, analyzed: ${analyzed}`).toEqual(['runs_pkey']);
        // A beat over all 10,000 locks each run it renews by its id (minutes when it walked them all for each one).
        expect(await indexesOf(RENEW_LEASES, [T0, 'a', held, Number.MAX_SAFE_INTEGER], 'LockRows'), `heartbeat, analyzed: ${analyzed}`).toEqual(['runs_pkey']);
        expect(await indexesOf(CLAIM_RUNS, [['work'], 'a', [], T0, 10_000, T0, T0, T0]), `claim, analyzed: ${analyzed}`).toEqual(['runs_claim', 'runs_pkey']);
        // A dead node's runs are found through its name, not by walking every running run.
        expect(await indexesOf(DEAD_NODE_RUNS, [['b'], T0]), `dead nodes' runs, analyzed: ${analyzed}`).toEqual(['runs_running_node']);
      }
    });
  });

  test('results sent while the runs table was small still find each run by its id once it has grown, analyzed or not', async () => {
    await withSchema('grown', async (_store, c) => {
      const addRunning = (from: number, to: number) =>
        c.query(`INSERT INTO runs (schedule, task, scheduled_at, attempt, status, node, not_before, created_at, started_at, lease_until)
          SELECT 's' || (i % 1000), 'work', i, 1, 'running', 'a', i, i, i, i + 60000 FROM generate_series($1::int8, $2::int8) i`, [from, to]);
      const finish = (ids: number[]) =>
        ids.map((id) => ({ runId: id, node: 'a', status: 'succeeded' as const, now: T0 + id, exitCode: 0, signal: null, reason: null, output: { stdout: '', stderr: '' }, startedAt: id }));
      // The store's own connection settings, one connection: every batch goes through the same prepared statement.
      const db = new PgDb(URL, `${prefix}_grown`);
      try {
        await addRunning(1, 300);
        // More executions than PostgreSQL makes before it settles on one plan for a prepared statement.
        for (let b = 0; b < 8; b++) {
          const ids = Array.from({ length: 20 }, (_, i) => 1 + b * 20 + i);
          expect((await db.tx((tx) => finishRunsTx(tx, finish(ids)))).every((r) => r.applied)).toBe(true);
        }
        // Not analyzed yet (a new store's first minute): PostgreSQL guesses how many runs are running.
        // Guessing one, it read the whole table once for each result (a batch of 1,000 among 20,000: 3.7 s).
        await addRunning(301, 20_000);
        const big = finishRunsStatement(finish(Array.from({ length: 1_000 }, (_, i) => 10_000 + i)));
        const [explained] = (await c.query(`EXPLAIN (FORMAT JSON) ${big.text}`, big.values)).rows;
        const loopsOverScan = (node: Record<string, unknown>, inLoop: boolean): boolean =>
          (inLoop && node['Node Type'] === 'Seq Scan') ||
          ((node.Plans as Array<Record<string, unknown>> | undefined) ?? []).some((child) => loopsOverScan(child, inLoop || node['Node Type'] === 'Nested Loop'));
        expect(loopsOverScan((explained!['QUERY PLAN'] as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan, false)).toBe(false);

        await addRunning(20_001, 60_000);
        // Scans of runs by this connection not yet reported (earlier transactions' too): the difference is the batch's.
        const counts = async (tx: Pick<pg.PoolClient, 'query'>) => {
          const [row] = (await tx.query("SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'runs' AND schemaname = current_schema()")).rows;
          return { seq: Number(row.seq_scan), idx: Number(row.idx_scan) };
        };
        for (const analyzed of [false, true]) {
          if (analyzed) await c.query('ANALYZE runs');
          const ids = Array.from({ length: 20 }, (_, i) => (analyzed ? 50_000 : 40_000) + i);
          const { results, scans } = await db.tx(async (tx) => {
            const before = await counts(tx);
            const results = await finishRunsTx(tx, finish(ids));
            const after = await counts(tx);
            return { results, scans: { seq: after.seq - before.seq, idx: after.idx - before.idx } };
          });
          expect(results.every((r) => r.applied), `analyzed: ${analyzed}`).toBe(true);
          // A plan kept from when the table held 300 runs hashed all 60,000 for each batch.
          expect(scans.seq, `analyzed: ${analyzed}`).toBe(0);
          expect(scans.idx, `analyzed: ${analyzed}`).toBeGreaterThan(0);
        }
        const [left] = (await c.query("SELECT count(*) AS n FROM runs WHERE status = 'running'")).rows;
        expect(Number(left.n)).toBe(60_000 - 8 * 20 - 2 * 20);
      } finally {
        await db.close();
      }
    });
  });

  test('a statement sent for every batch is prepared once per connection, and only so many texts are kept prepared', async () => {
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    try {
      const marker = `batch_${randomBytes(4).toString('hex')}`;
      const text = `SELECT $1::int8 + 1 AS next, '${marker}' AS m`;
      for (let i = 0; i < 3; i++) expect(await preparedRows(c, text, [i])).toEqual([{ next: String(i + 1), m: marker }]);
      const mine = await c.query('SELECT name FROM pg_prepared_statements WHERE statement = $1', [text]);
      expect(mine.rows).toHaveLength(1);
      // A stream of new texts (a statement built with values in it) does not grow without end.
      const many = Array.from({ length: 150 }, (_, i) => `SELECT $1::int8 + ${i} AS v, '${marker}' AS m`);
      for (const [i, t] of many.entries()) expect(await preparedRows(c, t, [1])).toEqual([{ v: String(i + 1), m: marker }]);
      const kept = Number((await c.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '%'", [marker])).rows[0].n);
      expect(kept).toBeGreaterThan(1);
      expect(kept).toBeLessThanOrEqual(100);
    } finally {
      await c.end();
    }
  });

  test("moving a schedule's cursor leaves its row on its page (no new index entry, no table growth)", async () => {
    await withSchema('hot', async (store, c) => {
      const names = Array.from({ length: 400 }, (_, i) => `s${String(i).padStart(3, '0')}`);
      await store.syncConfigSchedules(names.map((name) => spec(name)), T0);
      const pages = async () => {
        const { rows } = await c.query<{ name: string; page: string; cursor: string }>(
          "SELECT name, split_part(trim(both '()' from ctid::text), ',', 1) AS page, cursor FROM schedules ORDER BY name",
        );
        return rows;
      };
      const before = await pages();
      expect(new Set(before.map((r) => r.page)).size, 'the schedules fill several pages').toBeGreaterThan(3);
      const moved = await store.createDueFires(names.map((name) => plan(name, T0, [T0 + MIN])), fireOpts(T0));
      expect(moved.applied).toHaveLength(names.length);
      const after = await pages();
      expect(after.map((r) => Number(r.cursor))).toEqual(names.map(() => T0 + MIN));
      // Packed full, nearly every row moved to a new page (and got a second entry in the name index).
      expect(after.filter((r, i) => r.page !== before[i]!.page).map((r) => r.name)).toEqual([]);
    });
  });

  test('a heartbeat renewing leases does not hold the node row: the scheduler\'s mark is not kept waiting', async () => {
    await withSchema('beat', async (store, c) => {
      await store.syncConfigSchedules([spec('a')], T0);
      await store.registerNode(nodeInfo('n1'), T0);
      await store.createDueFires([plan('a', T0, [T0 + 1])], fireOpts(T0));
      const [run] = await store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 1, leaseMs: 1000, now: T0 + 10 });
      // Another transaction keeps writers off the runs table (ended with the session): the
      // heartbeat's renewal waits for it. (A run's row held alone is passed over; see below.)
      await c.query('BEGIN');
      await c.query('LOCK TABLE runs IN SHARE MODE');
      let beatDone = false;
      const beat = store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [run!.id], leaseMs: 5000, now: T0 + 500 }).then((r) => {
        beatDone = true;
        return r;
      });
      await waitForLock(c);
      const marked = store.markPlanned('n1', { through: T0 + 1, view: 'n1@1', at: T0 + 500 }).then(() => 'marked');
      const stuck = new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5_000));
      expect(await Promise.race([marked, stuck])).toBe('marked');
      expect(beatDone).toBe(false);
      await c.query('COMMIT');
      expect(await beat).toMatchObject({ cancel: [], revoked: [], draining: false });
      expect((await store.listNodes()).find((n) => n.name === 'n1')).toMatchObject({ heartbeatAt: T0 + 500, planned: { through: T0 + 1, view: 'n1@1', at: T0 + 500 } });
    });
  }, 15_000);

  test('a heartbeat passes over a run whose row another transaction holds, never waiting for it, and renews it at a later beat', async () => {
    await withSchema('beat_skip', async (store, c) => {
      await store.syncConfigSchedules([spec('a')], T0);
      await store.registerNode(nodeInfo('n1'), T0);
      await store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2])], fireOpts(T0));
      const [busy, free] = await store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 2, leaseMs: 1000, now: T0, dueBy: T0 + 2 });
      const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // As a batch of results does while it records `busy`: the row is held until COMMIT.
      await c.query('BEGIN');
      await c.query('SELECT 1 FROM runs WHERE id = $1 FOR UPDATE', [busy!.id]);
      try {
        let settled = false;
        const beat = store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [busy!.id, free!.id], leaseMs: 1000, now: T0 + 700 });
        void beat.finally(() => (settled = true)).catch(() => undefined);
        // Until the beat ends, nothing may come to wait on the held row (a waiting beat, with a
        // batch of results waiting on rows the beat renewed, was a deadlock).
        while (!settled) {
          const waiting = await c.query('SELECT 1 FROM pg_locks l WHERE NOT l.granted AND $1 = ANY(pg_blocking_pids(l.pid))', [rows[0]!.pid]);
          expect(waiting.rows, 'the heartbeat waited on a run row another transaction holds').toEqual([]);
          await new Promise((r) => setTimeout(r, 10));
        }
        // Still running on n1: neither a cancel nor a run taken away.
        expect(await beat).toMatchObject({ cancel: [], revoked: [], draining: false });
      } finally {
        await c.query('ROLLBACK');
      }
      expect((await store.getRun(busy!.id))?.leaseUntil).toBe(T0 + 1000);
      expect((await store.getRun(free!.id))?.leaseUntil).toBe(T0 + 1700);
      await store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [busy!.id, free!.id], leaseMs: 1000, now: T0 + 800 });
      expect((await store.getRun(busy!.id))?.leaseUntil).toBe(T0 + 1800);
    });
  }, 15_000);
  test('runs a creator claims are deferred: their rows are written once, finished; a sweep taking the node for dead waits for a batch in progress or makes it write as always', async () => {
    await withSchema('deferred', async (store, c) => {
      await store.syncConfigSchedules([spec('a'), spec('b'), spec('c')], T0);
      const node = nodeInfo('n1');
      await store.registerNode(node, T0);
      const { deferEpoch } = await store.heartbeat({ node, clockSkewMs: 0, runIds: [], leaseMs: MIN, now: T0 });
      expect(deferEpoch).toBe(0);
      await store.heartbeat({ node, clockSkewMs: 0, runIds: [], leaseMs: MIN, now: T0 + 100, deferred: { epoch: 0, since: T0, write: [] } });
      const claim = { tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, dueBy: T0 + 5000, defer: { epoch: 0 } };
      const made = await store.createDueFires([plan('a', T0, [T0 + 1000])], { ...fireOpts(T0 + 200), claim });
      const [a] = made.fires.flatMap((f) => f.runs);
      expect(a).toMatchObject({ deferred: true, status: 'running', node: 'n1' });
      expect((await c.query('SELECT count(*)::int AS n FROM runs')).rows[0].n).toBe(0);
      // Ended, it is one INSERT: the row's only version, never updated.
      await store.finishRuns([{ runId: a!.id, node: 'n1', status: 'succeeded', exitCode: 0, signal: null, reason: null, output: { stdout: '', stderr: '' }, now: T0 + 1005, deferred: { run: a!, epoch: 0 } }]);
      // The first tuple of the table's first page: an insert then an update would have left the row at (0,2).
      const { rows: [row] } = await c.query('SELECT status, ctid::text FROM runs WHERE id = $1', [a!.id]);
      expect(row).toEqual({ status: 'succeeded', ctid: '(0,1)' });

      // A sweep holds the node's row (it found the node dead) while the node creates fires and sends
      // a result: both wait for it, then see the epoch it moved.
      const [b0] = (await store.createDueFires([plan('b', T0, [T0 + 1000])], { ...fireOpts(T0 + 300), claim })).fires.flatMap((f) => f.runs);
      expect(b0!.deferred).toBe(true);
      await c.query('BEGIN');
      await c.query("SELECT 1 FROM nodes WHERE name = 'n1' FOR UPDATE");
      const creating = store.createDueFires([plan('c', T0, [T0 + 1000])], { ...fireOpts(T0 + 400), claim });
      await waitForLock(c);
      const finishing = store.finishRuns([{ runId: b0!.id, node: 'n1', status: 'succeeded', exitCode: 0, signal: null, reason: null, output: { stdout: '', stderr: '' }, now: T0 + 1005, deferred: { run: b0!, epoch: 0 } }]);
      await c.query("UPDATE nodes SET defer_epoch = defer_epoch + 1, deferred_since = NULL WHERE name = 'n1'");
      await c.query('COMMIT');
      const [c0] = (await creating).fires.flatMap((f) => f.runs);
      expect(c0!.deferred).toBeUndefined();
      expect(await store.getRun(c0!.id)).toMatchObject({ status: 'running', node: 'n1' });
      expect((await finishing).map((r) => r.applied)).toEqual([false]);
      expect(await store.getRun(b0!.id)).toBeNull();
    });
  }, 15_000);
});
