import Database from 'better-sqlite3';
import { StoreError } from '../../errors.js';
import { loadMigrations, migrationsDir } from '../migration-files.js';

type Param = string | number | bigint | null | boolean;

/** Page cache per connection, in KiB. */
export const PAGE_CACHE_KIB = 2000;

/**
 * One better-sqlite3 connection with a cache of prepared statements. Statements are prepared on
 * first use because the tables they name exist only after `migrate()`.
 */
export class SqliteDb {
  readonly db: Database.Database;
  private readonly cache = new Map<string, Database.Statement>();

  constructor(file: string) {
    this.db = new Database(file);
    // WAL lets readers (CLI, API) work while a node writes; writers wait up to busy_timeout for
    // the single write lock instead of failing with SQLITE_BUSY.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    // better-sqlite3 builds SQLite with a 16 MB page cache per connection, which a node filled as
    // its history grew (RSS +15 MB over its first minute at 1,000 runs a second); SQLite's own
    // default of 2 MB holds the pages a node works on, and the OS caches the rest of the file.
    this.db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  }

  stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  get<T = Record<string, unknown>>(sql: string, ...params: Param[]): T | undefined {
    return this.stmt(sql).get(...params.map(bind)) as T | undefined;
  }

  all<T = Record<string, unknown>>(sql: string, ...params: Param[]): T[] {
    return this.stmt(sql).all(...params.map(bind)) as T[];
  }

  run(sql: string, ...params: Param[]): Database.RunResult {
    return this.stmt(sql).run(...params.map(bind));
  }

  /** Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so two
   * writers never both read and then fail to upgrade (which SQLite reports as SQLITE_BUSY). */
  write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  migrate(now: number): void {
    const migrations = loadMigrations(migrationsDir('sqlite', import.meta.url));
    this.write(() => {
      this.db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
      );
      const applied = new Set(
        (this.db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version),
      );
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        try {
          this.db.exec(m.sql);
        } catch (err) {
          throw new StoreError(`SQLite migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now);
      }
    });
  }

  close(): void {
    this.cache.clear();
    if (this.db.open) this.db.close();
  }
}

/** better-sqlite3 binds no booleans. */
function bind(v: Param): string | number | bigint | null {
  return v === true ? 1 : v === false ? 0 : v;
}

/** Arrays travel as one JSON parameter, read back with json_each. */
export function jsonList(values: readonly unknown[]): string {
  return JSON.stringify(values);
}
