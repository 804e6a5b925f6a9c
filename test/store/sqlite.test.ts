import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { PAGE_CACHE_KIB, SqliteDb } from '../../src/store/sqlite/db.js';
import { openStore } from '../../src/store/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { defineStoreConformance } from './conformance.js';

const root = mkdtempSync(join(tmpdir(), 'cronfleet-store-'));
let n = 0;

defineStoreConformance('sqlite', {
  async storage() {
    const file = join(root, `db-${++n}`, 'cronfleet.db');
    return {
      async open() {
        const s = await openStore(`sqlite:${file}`);
        await s.migrate();
        return s;
      },
    };
  },
  async cleanup() {
    rmSync(root, { recursive: true, force: true });
  },
});

describe('sqlite store specifics', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronfleet-sqlite-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('migrations apply from zero on an empty file, once, and again idempotently', async () => {
    const file = join(dir, 'fresh', 'nested', 'a.db');
    const a = await openStore(`sqlite:${file}`);
    const b = await openStore(`sqlite:${file}`);
    await Promise.all([a.migrate(), b.migrate()]);
    await a.migrate();
    await Promise.all([a.close(), b.close()]);
    const db = new Database(file, { readonly: true });
    const versions = db.prepare('SELECT version, name FROM schema_migrations').all();
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    const mode = db.pragma('journal_mode', { simple: true });
    db.close();
    expect(versions).toEqual([
      { version: 1, name: 'init' },
      { version: 2, name: 'api_access' },
      { version: 3, name: 'node_scheduler' },
      { version: 4, name: 'schedule_revision' },
      { version: 5, name: 'node_executing' },
      { version: 6, name: 'node_planned' },
    ]);
    expect(tables.map((t) => (t as { name: string }).name)).toEqual(['api_tokens', 'audit_log', 'fires', 'leases', 'nodes', 'runs', 'schedule_revision', 'schedules', 'schema_migrations']);
    expect(mode).toBe('wal');
  });

  test('a connection keeps a 2 MB page cache, not the 16 MB better-sqlite3 builds SQLite with', () => {
    const db = new SqliteDb(join(dir, 'cache.db'));
    expect(db.db.pragma('cache_size', { simple: true })).toBe(-PAGE_CACHE_KIB);
    expect(new Database(':memory:').pragma('cache_size', { simple: true })).toBe(-16000);
    db.db.close();
  });

  test('sqlite::memory: opens a private in-memory store', async () => {
    const s = await openStore('sqlite::memory:');
    expect(s).toBeInstanceOf(SqliteStore);
    await s.migrate();
    expect(await s.listSchedules()).toEqual([]);
    await s.close();
  });

  test('a relative path is resolved from the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const s = await openStore('sqlite:./rel/sub/x.db');
      await s.migrate();
      await s.close();
      const db = new Database(join(dir, 'rel', 'sub', 'x.db'), { readonly: true });
      // Every migration applied, in the file the relative path names.
      const files = readdirSync(new URL('../../src/store/sqlite/migrations/', import.meta.url)).filter((f) => f.endsWith('.sql'));
      expect(db.prepare('SELECT count(*) AS c FROM schema_migrations').get()).toEqual({ c: files.length });
      db.close();
    } finally {
      process.chdir(cwd);
    }
  });

  test('an unknown scheme is a ConfigError naming the store field and the expected forms', async () => {
    const err = await openStore('mysql://localhost/db').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('store');
    expect((err as ConfigError).message).toMatch(/expected sqlite:.*postgres:\/\//);
  });
});
