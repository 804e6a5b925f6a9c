import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfigFile, loadConfigFileApart, parseConfigText } from '../config/load.js';
import type { NodeConfig } from '../config/types.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import type { Run } from '../store/types.js';
import { UsageError } from '../errors.js';

export const CONFIG_SEARCH = ['./cronfleet.yaml', './cronfleet.yml', './cronfleet.json', '/etc/cronfleet/cronfleet.yaml'];

export interface ConfigOpts {
  config?: string;
  store?: string;
}

export function addConfigOption(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', `config file (default: $CRONFLEET_CONFIG, else the first of ${CONFIG_SEARCH.join(', ')})`)
    .option('--store <url>', 'store to use instead of the config\'s (sqlite:PATH or postgres://...)');
}

export function resolveConfigPath(given?: string): string {
  if (given) return given;
  if (process.env.CRONFLEET_CONFIG) return process.env.CRONFLEET_CONFIG;
  const found = CONFIG_SEARCH.find((p) => existsSync(p));
  if (!found) throw new UsageError(`no config file: give one with --config FILE (looked for ${CONFIG_SEARCH.join(', ')})`);
  return found;
}

export function loadConfig(opts: ConfigOpts): NodeConfig {
  if (storeOnly(opts)) return parseConfigText('{}', null, { store: opts.store });
  return loadConfigFile(resolveConfigPath(opts.config), opts.store ? { store: opts.store } : {});
}

/** As loadConfig, for `serve`: a node keeps running, so its file is parsed apart (loadConfigFileApart). */
export async function loadNodeConfig(opts: ConfigOpts): Promise<NodeConfig> {
  if (storeOnly(opts)) return parseConfigText('{}', null, { store: opts.store });
  return loadConfigFileApart(resolveConfigPath(opts.config), opts.store ? { store: opts.store } : {});
}

/** Reading a store needs no config file: `--store` alone is enough (defaults for the rest). */
function storeOnly(opts: ConfigOpts): opts is ConfigOpts & { store: string } {
  return !!opts.store && !opts.config && !process.env.CRONFLEET_CONFIG && !CONFIG_SEARCH.some((p) => existsSync(p));
}

/**
 * Opens the config's store (migrated), runs `fn`, closes it. With `sync`, the config's schedules
 * are synced first, as `serve` does at start, so commands about schedules see the config even
 * before any node has run.
 */
export async function withStore<T>(opts: ConfigOpts, fn: (store: Store, cfg: NodeConfig) => Promise<T>, { sync = false } = {}): Promise<T> {
  const cfg = loadConfig(opts);
  const store = await openStore(cfg.store, { dataDir: cfg.dataDir });
  try {
    await store.migrate();
    if (sync) await store.syncConfigSchedules(cfg.schedules, await store.clockNow());
    return await fn(store, cfg);
  } finally {
    await store.close();
  }
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A run as scripts see it (`--json`): instants in ISO 8601. */
export function runToJson(r: Run) {
  return {
    id: r.id,
    schedule: r.schedule,
    task: r.task,
    node: r.node,
    scheduledAt: iso(r.scheduledAt),
    attempt: r.attempt,
    status: r.status,
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    durationMs: r.startedAt !== null && r.finishedAt !== null ? r.finishedAt - r.startedAt : null,
    exitCode: r.exitCode,
    signal: r.signal,
    reason: r.reason,
    targetNode: r.targetNode,
    targetTag: r.targetTag,
    manual: r.manual,
    notBefore: iso(r.notBefore),
    logPath: r.logPath,
  };
}

/** Aligned columns for humans. */
export function table(header: string[], rows: Array<Array<string | number | null>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function parsePositiveInt(value: string, name: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${name}: "${value}" is not a positive whole number`);
  return Number(value);
}
