import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { cli, exited, startCli, type CliResult } from './cli.js';
import { PG_ADMIN_URL } from './pg.js';
import { waitFor } from './wait.js';

/** What one node's config holds besides its name and store (JSON is YAML, so it is written as JSON). */
export interface NodeSpec {
  tags?: string[];
  tasks: Record<string, unknown>;
  schedules?: unknown[];
  executor?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
  scheduler?: Record<string, unknown> | false;
  /** Extra environment for the serve process (e.g. CRONFLEET_CLOCK_OFFSET_MS). */
  env?: Record<string, string>;
}

export type ServeProcess = ReturnType<typeof startCli>;

/**
 * N `cronfleet serve` processes on one PostgreSQL database made for the test (and dropped by
 * `destroy`), each with a generated config in a directory of its own. Nodes are addressed by name,
 * so a node killed and restarted comes back under the same name, as an operator's would.
 */
export class Cluster {
  readonly procs = new Map<string, ServeProcess>();
  private readonly specs = new Map<string, NodeSpec>();
  /** Every process ever started, so `destroy` can make sure none survives a failed test. */
  private readonly started: ServeProcess[] = [];
  private readonly history = new Map<string, ServeProcess[]>();
  private store: Store | null = null;

  private constructor(
    readonly database: string,
    readonly url: string,
    readonly dir: string,
  ) {}

  /** Creates a fresh database named after `prefix` (unique per call). */
  static async create(prefix: string): Promise<Cluster> {
    const database = `${prefix}_${process.pid}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    await adminQuery(`CREATE DATABASE ${database}`);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${database}`;
    return new Cluster(database, url.toString(), mkdtempSync(join(tmpdir(), `${prefix}-`)));
  }

  /** The store the nodes share, opened (and migrated) once for the test to read and arrange. */
  async openStore(): Promise<Store> {
    if (!this.store) {
      this.store = await openStore(this.url);
      await this.store.migrate();
    }
    return this.store;
  }

  /** Writes (or rewrites) a node's config; returns its path. */
  define(name: string, spec: NodeSpec): string {
    this.specs.set(name, spec);
    const nodeDir = join(this.dir, name);
    mkdirSync(nodeDir, { recursive: true });
    const config = {
      node: { name, tags: spec.tags ?? [] },
      store: this.url,
      timezone: 'UTC',
      http: false,
      dataDir: join(nodeDir, 'data'),
      tasks: spec.tasks,
      schedules: spec.schedules ?? [],
      ...(spec.executor && { executor: spec.executor }),
      ...(spec.cluster && { cluster: spec.cluster }),
      ...(spec.scheduler !== undefined && { scheduler: spec.scheduler }),
    };
    const file = this.configPath(name);
    writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  }

  configPath(name: string): string {
    return join(this.dir, name, 'cronfleet.json');
  }

  /** Starts `serve` for a defined node; resolves once the node has registered in the store. */
  async start(name: string, opts: { waitRegistered?: boolean } = {}): Promise<ServeProcess> {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`node ${name} is not defined`);
    const prev = this.procs.get(name);
    if (prev && prev.exitCode === null && prev.signalCode === null) throw new Error(`node ${name} is already running`);
    const child = startCli(['serve', '--config', this.configPath(name)], { env: { ...spec.env } });
    this.procs.set(name, child);
    this.started.push(child);
    this.history.set(name, [...(this.history.get(name) ?? []), child]);
    if (opts.waitRegistered !== false) {
      await waitFor(
        `node ${name} to start`,
        () => {
          if (child.exitCode !== null) throw new Error(`node ${name} exited with ${child.exitCode}: ${child.log()}`);
          return /"msg":"node started"/.test(child.log());
        },
        30_000,
      );
    }
    return child;
  }

  /**
   * Starts several nodes: the first alone, so that it creates the config schedules, then the rest
   * together. (Every node starting at once on an empty database is test/cluster/start.test.ts's subject.)
   */
  async startAll(names: string[]): Promise<void> {
    await this.start(names[0]!);
    await Promise.all(names.slice(1).map((n) => this.start(n)));
  }

  proc(name: string): ServeProcess {
    const p = this.procs.get(name);
    if (!p) throw new Error(`node ${name} was never started`);
    return p;
  }

  /** The logs of every process started under a name, oldest first. */
  logs(name: string): string {
    return (this.history.get(name) ?? []).map((p) => p.log()).join('');
  }

  /** kill -9: the process gets no chance to record anything. Resolves once it is gone. */
  async kill9(name: string): Promise<void> {
    const p = this.proc(name);
    p.kill('SIGKILL');
    await exited(p);
  }

  /** SIGTERM, then waits for the process to exit; returns its exit code. */
  async stop(name: string): Promise<number | null> {
    const p = this.proc(name);
    if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
    p.kill('SIGTERM');
    return (await exited(p)).code;
  }

  /** The `cronfleet` command line against a node's config. */
  cli(name: string, args: string[]): CliResult {
    return cli([...args, '--config', this.configPath(name)]);
  }

  /** Ends every connection to the cluster's database but the one asking: a PostgreSQL outage as the nodes see it. */
  async cutConnections(): Promise<number> {
    const res = await adminQuery(
      'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [this.database],
    );
    return Number(res.rows[0]!.n);
  }

  /** Kills whatever still runs, closes the test's store and drops the database. */
  async destroy(): Promise<void> {
    for (const p of this.started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.all(this.started.map((p) => exited(p)));
    await this.store?.close().catch(() => {});
    this.store = null;
    // WITH (FORCE) ends the sessions the killed nodes may have left behind.
    await adminQuery(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function adminQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}
