import pg from 'pg';
import { ConfigError, StoreError } from '../../errors.js';
import { loadMigrations, migrationsDir } from '../migration-files.js';
import type { Row } from '../rows.js';

const SCHEMA = /^[a-z_][a-z0-9_]{0,39}$/;

/** A pg Pool whose every connection works in one schema, with a transaction helper. */
export class PgDb {
  readonly pool: pg.Pool;
  /** The channel NOTIFY uses; one per schema so clusters sharing a database don't wake each other. */
  readonly channel: string;

  constructor(
    readonly url: string,
    readonly schema: string,
  ) {
    if (!SCHEMA.test(schema)) {
      throw new ConfigError('store.schema', `"${schema}" is not a usable schema name: expected lower-case letters, digits and _ (at most 40, not starting with a digit)`);
    }
    // Custom plans for prepared statements (see preparedRows): each batch is planned for the
    // tables as they are now, not as they were when the statement was first prepared.
    this.pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema} -c plan_cache_mode=force_custom_plan`, max: 10 });
    // An idle connection that dies is dropped by the pool; the next query opens a new one.
    this.pool.on('error', () => {});
    this.channel = `cronfleet_queued_${schema}`;
  }

  async query(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, params)).rows as Row[];
  }

  /**
   * Runs `fn` in a transaction. A deadlock or serialization failure is retried: both mean
   * PostgreSQL rolled the whole transaction back, so running it again is safe.
   */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      // A connection cut while checked out (server restart, pg_terminate_backend) emits 'error'
      // on the client as well as failing the query: unheard, that event would end the process.
      let broken: Error | undefined;
      const onError = (err: Error) => {
        broken = err;
      };
      // Heard from the moment the pool hands the client over, in its callback: a client freed
      // while the driver reads a chunk goes to the next waiter at once, and the server's FATAL
      // later in that same chunk was emitted before an awaited connect() resumed (a node of the
      // chaos test died of it when its connections were cut).
      const c = await new Promise<pg.PoolClient>((resolve, reject) => {
        this.pool.connect((err, client) => {
          if (err || !client) return reject(err ?? new StoreError('the PostgreSQL pool handed over no connection'));
          client.on('error', onError);
          resolve(client);
        });
      });
      try {
        await c.query('BEGIN');
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (err) {
        if (!broken) await c.query('ROLLBACK').catch(() => {});
        const code = (err as { code?: string }).code;
        if ((code === '40P01' || code === '40001') && attempt < 5) continue;
        throw err;
      } finally {
        c.off('error', onError);
        // A broken client is destroyed rather than handed to the next caller.
        c.release(broken);
      }
    }
  }

  /** Applies pending migrations under an advisory lock, so nodes starting together migrate once. */
  async migrate(now: number): Promise<void> {
    const migrations = loadMigrations(migrationsDir('postgres', import.meta.url));
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`cronfleet.migrate.${this.schema}`]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await c.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at int8 NOT NULL)',
      );
      const applied = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => Number(r.version)));
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        try {
          await c.query(m.sql);
        } catch (err) {
          throw new StoreError(`PostgreSQL migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export type Q = Pick<pg.PoolClient, 'query'>;

export async function rows(c: Q, sql: string, params: unknown[] = []): Promise<Row[]> {
  return (await c.query(sql, params)).rows as Row[];
}

/** Statement names by text: each connection prepares a text once, under its name. */
const prepared = new Map<string, string>();
/** Texts beyond this many go unnamed (parsed each time) rather than stay prepared for good. */
const MAX_PREPARED = 100;

/**
 * Like `rows`, for a statement a node sends for every batch of fires or results: prepared on
 * each connection the first time, then only bound, planned and run. Sent unnamed, each one was
 * also parsed every time: 6.7 µs of PostgreSQL CPU per fire at 16,000 fires a second (4.6 µs
 * prepared). The connections plan every run anew (plan_cache_mode, PgDb): PostgreSQL's own choice
 * is to keep one generic plan after five runs, and a plan made while `runs` held a few hundred
 * rows (a hash of the whole table) stayed in use as it grew: a batch of 100 results then cost
 * 95-105 µs per result at 60,000 runs, against 27-33 µs planned each time. A text stays prepared
 * on each connection for the connection's life: past MAX_PREPARED texts (the statements built per
 * batch come in a few shapes), new ones go unnamed.
 */
export async function preparedRows(c: Q, sql: string, params: unknown[] = []): Promise<Row[]> {
  let name = prepared.get(sql);
  if (name === undefined && prepared.size < MAX_PREPARED) {
    name = `cf_${prepared.size + 1}`;
    prepared.set(sql, name);
  }
  return (await (name === undefined ? c.query(sql, params) : c.query({ name, text: sql, values: params }))).rows as Row[];
}
