import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Store } from './store.js';

export type { Store } from './store.js';

export interface OpenStoreOptions {
  /** PostgreSQL: the schema every query uses (created by migrate() if missing). Default `public`. */
  schema?: string;
  /** Where `sqlite:` with no path puts `cronfleet.db`. */
  dataDir?: string;
}

const EXPECTED =
  'expected sqlite:./path/file.db (relative to the working directory), sqlite:/absolute/file.db, sqlite::memory:, ' +
  'or postgres://user@host:port/database (postgresql:// too)';

/**
 * Opens the store a `store` URL names. Call `migrate()` before use: opening never changes the
 * database, so read-only tools can open a store without racing a node's migration.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const { SqliteStore } = await import('./sqlite/sqlite-store.js');
    return SqliteStore.open(sqliteFile(url.slice('sqlite:'.length), opts.dataDir));
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.open(url, opts.schema);
  }
  throw new ConfigError('store', `"${url}" is not a store URL: ${EXPECTED}`);
}

function sqliteFile(rest: string, dataDir: string | undefined): string {
  if (rest === ':memory:') return ':memory:';
  // sqlite:///abs/file.db is accepted as the URL form of sqlite:/abs/file.db.
  const path = rest.startsWith('//') ? rest.slice(2) : rest;
  const file = path === '' ? join(dataDir ?? '.', 'cronfleet.db') : path;
  const abs = resolve(file);
  try {
    mkdirSync(dirname(abs), { recursive: true });
  } catch (err) {
    throw new ConfigError('store', `cannot create the directory of ${abs}: ${(err as Error).message}`);
  }
  return abs;
}
