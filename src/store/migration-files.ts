import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StoreError } from '../errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Reads `NNNN_name.sql` files in version order. The SQL stays in src/ and is read at run time:
 * `dir` is resolved from the compiled file (dist/store/<kind>/) or the source file
 * (src/store/<kind>/), both three levels below the package root.
 */
export function loadMigrations(dir: URL): Migration[] {
  const path = fileURLToPath(dir);
  let names: string[];
  try {
    names = readdirSync(path).filter((n) => n.endsWith('.sql')).sort();
  } catch (err) {
    throw new StoreError(`cannot read the migrations directory ${path}`, { cause: err });
  }
  const out = names.map((n, i): Migration => {
    const m = FILE.exec(n);
    if (!m) throw new StoreError(`migration file ${n} in ${path} is not named NNNN_name.sql`);
    const version = Number(m[1]);
    if (version !== i + 1) throw new StoreError(`migration ${n} in ${path}: expected version ${i + 1}, numbers must run 0001, 0002, ... without gaps`);
    return { version, name: m[2]!, sql: readFileSync(new URL(n, dir), 'utf8') };
  });
  if (out.length === 0) throw new StoreError(`no migrations found in ${path}`);
  return out;
}

/** `new URL(..., import.meta.url)` of the migrations of one store kind, from src/ or dist/. */
export function migrationsDir(kind: 'sqlite' | 'postgres', from: string): URL {
  return new URL(`../../../src/store/${kind}/migrations/`, from);
}
