import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, CronSyntaxError } from '../errors.js';
import { outlastsLateBeat } from '../executor/beats.js';
import type { TaskDef } from '../executor/task.js';
import type { ScheduleSpec, Target } from '../store/types.js';
import { parseDuration } from '../time/duration.js';
import { compileSchedule, systemTimezone, validateTimezone } from '../time/index.js';
import { configSchema, type ConfigFile, type ScheduleFile, type TaskFile } from './schema.js';
import type { NodeConfig } from './types.js';

export const DEFAULT_CONFIG_PATH = 'cronfleet.yaml';

/** The line of the value at a path in the file, when known. */
type Locate = (path: PropertyKey[]) => number | undefined;

/** Reads and validates a YAML or JSON config file (JSON is YAML). Errors name file, line and path. */
export function loadConfigFile(file: string, overrides: { store?: string } = {}): NodeConfig {
  return parseConfigText(readConfigFile(file), file, overrides);
}

/**
 * As loadConfigFile, for a node that keeps running: a big file's YAML is parsed in a worker thread.
 * Parsing is the costliest step of loading a big config (10,000 schedules, 680 KB: ~1.2 s and
 * ~90 MB of heap), and V8 keeps that heap committed in the node's RSS long after it is garbage; a
 * worker's heap goes with the worker. Same parser, same options, same values and errors as
 * loadConfigFile. Below `apartFrom` bytes (a few MB of garbage) the file is parsed in the calling
 * thread: starting the worker and its parser costs ~0.1 s.
 */
export async function loadConfigFileApart(file: string, overrides: { store?: string } = {}, { apartFrom = 64 * 1024 } = {}): Promise<NodeConfig> {
  const text = readConfigFile(file);
  if (text.length < apartFrom) return parseConfigText(text, file, overrides);
  const worker = new Worker(PARSE_IN_WORKER, { eval: true, workerData: { yaml: createRequire(import.meta.url).resolve('yaml'), text, options: YAML_OPTIONS } });
  let parsed: Parsed;
  try {
    [parsed] = (await once(worker, 'message')) as [Parsed];
  } finally {
    await worker.terminate();
  }
  if ('error' in parsed) throw syntaxError(parsed.error, parsed.at, file);
  // Lines are wanted only for an error message: the text is parsed again here then.
  let locate: Locate | undefined;
  return fromData(parsed.value, file, overrides, (path) => (locate ??= locator(text).locate)(path));
}

export function parseConfigText(text: string, file: string | null, overrides: { store?: string } = {}): NodeConfig {
  const { doc, lines, locate } = locator(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw syntaxError(e.message, lines.linePos(e.pos[0]), file ?? 'config');
  }
  return fromData(doc.toJS() ?? {}, file, overrides, locate);
}

const YAML_OPTIONS = { prettyErrors: false, uniqueKeys: true } as const;

/** Either the document's value or its first error; what loadConfigFileApart's worker posts back. */
type Parsed = { value: unknown } | { error: string; at: { line: number; col: number } };

// CommonJS run by the worker, given yaml's resolved path: it does what parseConfigText does up to the value.
const PARSE_IN_WORKER = `
const { parentPort, workerData: { yaml, text, options } } = require('node:worker_threads');
const { LineCounter, parseDocument } = require(yaml);
const lineCounter = new LineCounter();
const doc = parseDocument(text, { ...options, lineCounter });
const e = doc.errors[0];
parentPort.postMessage(e ? { error: e.message, at: lineCounter.linePos(e.pos[0]) } : { value: doc.toJS() ?? {} });
`;

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError('', code === 'ENOENT' ? 'file not found (give one with --config FILE)' : `cannot read: ${(err as Error).message}`, file);
  }
}

function syntaxError(message: string, at: { line: number; col: number }, where: string): ConfigError {
  return new ConfigError('', `line ${at.line}, column ${at.col}: ${message.split('\n')[0]}`, where);
}

/** The parsed document, and where in the file a path's value is. */
function locator(text: string) {
  const lines = new LineCounter();
  const doc = parseDocument(text, { ...YAML_OPTIONS, lineCounter: lines });
  const locate: Locate = (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { doc, lines, locate };
}

function fromData(raw: unknown, file: string | null, overrides: { store?: string }, locate: Locate): NodeConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw zodToConfigError(parsed.error, file ?? 'config', locate);
  return normalize(parsed.data, file, locate, overrides);
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_key' && issue.issues[0]) return `"${String(issue.path.at(-1))}": ${issue.issues[0].message}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (${issue.message})`;
  return issue.message;
}

/** Every problem zod found, one per line; the error's path and line are the first one's. */
export function zodToConfigError(error: z.ZodError, file: string, locate: Locate = () => undefined): ConfigError {
  const [first, ...rest] = error.issues;
  const where = (issue: z.core.$ZodIssue) => {
    const line = locate(issue.path);
    return `${line ? `line ${line}: ` : ''}${issue.path.length ? issue.path.join('.') : '(top level)'}`;
  };
  const more = rest.map((issue) => `\n  ${where(issue)}: ${issueMessage(issue)}`).join('');
  return new ConfigError(first!.path.length ? first!.path.join('.') : '(top level)', issueMessage(first!) + more, file, locate(first!.path));
}

function duration(value: string | number, segments: PropertyKey[], locate: Locate, file: string): number {
  if (typeof value === 'number') return Math.round(value * 1000);
  const path = segments.join('.');
  try {
    return parseDuration(value, path);
  } catch (err) {
    throw new ConfigError(path, `"${value}" ${(err as CronSyntaxError).expected}`, file, locate(segments));
  }
}

function normalize(cfg: ConfigFile, file: string | null, locate: Locate, overrides: { store?: string }): NodeConfig {
  const where = file ?? 'config';
  const base = file ? dirname(resolve(file)) : process.cwd();
  const dur = (v: string | number, segments: PropertyKey[]) => duration(v, segments, locate, where);
  const fail = (segments: PropertyKey[], message: string) => new ConfigError(segments.join('.'), message, where, locate(segments));

  let timezone: string;
  try {
    timezone = cfg.timezone ? validateTimezone(cfg.timezone) : systemTimezone();
  } catch (err) {
    throw fail(['timezone'], (err as Error).message);
  }

  const tasks = new Map<string, TaskDef>();
  for (const [name, task] of Object.entries(cfg.tasks)) {
    tasks.set(name, toTaskDef(task, name, base, dur, fail));
  }

  const names = new Set<string>();
  const schedules: ScheduleSpec[] = cfg.schedules.map((s, i) => {
    const at = (k: string): PropertyKey[] => ['schedules', i, k];
    if (names.has(s.name)) throw fail(at('name'), `"${s.name}" is used by another schedule; names must be unique`);
    names.add(s.name);
    if (!s.remoteTask && !tasks.has(s.task)) {
      const known = [...tasks.keys()];
      throw fail(
        at('task'),
        `"${s.task}" is not one of this node's tasks (${known.length ? known.join(', ') : 'none defined'}); define it under tasks, or set remoteTask: true if other nodes of the cluster offer it`,
      );
    }
    return toScheduleSpec(s, i, timezone, cfg.scheduler ? cfg.scheduler.misfireLimit : 100, dur, fail);
  });

  let store = overrides.store ?? cfg.store;
  if (store.startsWith('sqlite:') && store !== 'sqlite::memory:') {
    const path = store.slice('sqlite:'.length);
    store = `sqlite:${isAbsolute(path) ? path : resolve(base, path)}`;
  }

  let http: NodeConfig['http'] = false;
  if (cfg.http) {
    const m = /^(?:\[(.+)\]|(.+)):(\d+)$/.exec(cfg.http.listen)!;
    http = { host: m[1] ?? m[2]!, port: Number(m[3]), metrics: cfg.http.metrics, bodyLimit: cfg.http.bodyLimit };
  }

  const leaseMs = dur(cfg.executor.lease, ['executor', 'lease']);
  const heartbeatMs = dur(cfg.executor.heartbeat, ['executor', 'heartbeat']);
  const nodeTtlMs = dur(cfg.cluster.nodeTtl, ['cluster', 'nodeTtl']);
  if (!outlastsLateBeat(leaseMs, heartbeatMs)) {
    throw fail(['executor', 'heartbeat'], `"${cfg.executor.heartbeat}" is too long for a lease of "${cfg.executor.lease}": expected at most half the lease, or one late beat loses every run`);
  }
  if (!outlastsLateBeat(nodeTtlMs, heartbeatMs)) {
    throw fail(['cluster', 'nodeTtl'], `"${cfg.cluster.nodeTtl}" is too short for a heartbeat of "${cfg.executor.heartbeat}": expected at least two heartbeats, or a live node would be taken for dead`);
  }

  return {
    file: file ? resolve(file) : null,
    node: { name: cfg.node.name ?? hostname(), tags: cfg.node.tags },
    store,
    dataDir: cfg.dataDir ? resolve(base, cfg.dataDir) : resolve(base, 'data'),
    timezone,
    tasks,
    schedules,
    executor: {
      concurrency: cfg.executor.concurrency,
      leaseMs,
      heartbeatMs,
      killGraceMs: dur(cfg.executor.killGrace, ['executor', 'killGrace']),
      shutdownGraceMs: dur(cfg.executor.shutdownGrace, ['executor', 'shutdownGrace']),
      prefetchMs: dur(cfg.executor.prefetch, ['executor', 'prefetch']),
      pollMs: cfg.executor.poll !== undefined ? dur(cfg.executor.poll, ['executor', 'poll']) : store.startsWith('sqlite:') ? 1_000 : 30_000,
      spawn: cfg.executor.spawn,
    },
    scheduler: cfg.scheduler
      ? {
          misfireGraceMs: dur(cfg.scheduler.misfireGrace, ['scheduler', 'misfireGrace']),
          misfireLimit: cfg.scheduler.misfireLimit,
          leadMs: dur(cfg.scheduler.lead, ['scheduler', 'lead']),
        }
      : false,
    cluster: { nodeTtlMs },
    http,
    stateKeepers: cfg.stateKeepers.map((k, i) => {
      const leaseMs = dur(k.lease, ['stateKeepers', i, 'lease']);
      if (leaseMs < 1000) throw fail(['stateKeepers', i, 'lease'], `"${k.lease}" is too short: expected at least 1s`);
      return { cluster: k.cluster, stateFile: resolve(base, k.stateFile), priority: k.priority, leaseMs };
    }),
    log: { level: cfg.log.level },
    memory: cfg.memory,
    retention: cfg.retention
      ? {
          maxAgeMs: cfg.retention.maxAge === undefined ? null : dur(cfg.retention.maxAge, ['retention', 'maxAge']),
          keepPerSchedule: cfg.retention.keepPerSchedule ?? null,
          everyMs: dur(cfg.retention.every, ['retention', 'every']),
        }
      : false,
    notifications: {
      webhooks: cfg.notifications.webhooks.map((w) => ({ url: w.url, secret: w.secret ?? null, events: w.events, schedules: w.schedules ?? null, retries: w.retries })),
      mail: cfg.notifications.mail.map((m) => ({ smtp: m.smtp, from: m.from, to: m.to, events: m.events, schedules: m.schedules ?? null })),
    },
  };
}

type Dur = (v: string | number, segments: PropertyKey[]) => number;
type Fail = (segments: PropertyKey[], message: string) => ConfigError;

function toTaskDef(task: TaskFile, name: string, base: string, dur: Dur, fail: Fail): TaskDef {
  const at = (...k: PropertyKey[]): PropertyKey[] => ['tasks', name, ...k];
  const timeoutMs = task.timeout === undefined ? undefined : dur(task.timeout, at('timeout'));
  const withTimeout = <T extends object>(t: T): T => (timeoutMs === undefined ? t : { ...t, timeoutMs });
  if ('command' in task) {
    let argv: string[];
    if (Array.isArray(task.command)) {
      if (task.shell) {
        throw fail(at('command'), 'with shell: true, give the command as one string for /bin/sh -c');
      }
      argv = task.command;
    } else if (task.shell || !/[\s'"`$;&|<>(){}*?\\]/.test(task.command)) {
      argv = [task.command];
    } else {
      throw fail(at('command'), `"${task.command}" needs a shell to run; set shell: true, or give an argv array such as [${task.command.split(/\s+/).join(', ')}]`);
    }
    return withTimeout({
      kind: 'command' as const,
      argv,
      shell: task.shell,
      ...(task.cwd !== undefined && { cwd: resolve(base, task.cwd) }),
      ...(task.env !== undefined && { env: task.env }),
      ...(task.user !== undefined && { user: String(task.user) }),
      ...(task.nice !== undefined && { nice: task.nice }),
    });
  }
  if ('http' in task) {
    const expect = task.http.expect === undefined ? undefined : Array.isArray(task.http.expect) ? task.http.expect : [task.http.expect];
    return withTimeout({
      kind: 'http' as const,
      url: task.http.url,
      method: task.http.method,
      ...(task.http.headers !== undefined && { headers: task.http.headers }),
      ...(task.http.body !== undefined && { body: task.http.body }),
      ...(expect !== undefined && { expect }),
    });
  }
  if ('builtin' in task) return withTimeout({ kind: 'builtin' as const, builtin: task.builtin });
  return withTimeout({
    kind: 'gearman' as const,
    function: task.gearman.function,
    wait: task.gearman.wait,
    servers: task.gearman.servers.map((s) => {
      if (typeof s === 'string') {
        const [host, port] = s.split(':');
        return { host: host!, port: port ? Number(port) : 4730 };
      }
      return { host: s.server, port: s.port };
    }),
  });
}

function toTarget(t: ScheduleFile['target']): Target {
  if (t === 'any' || t === 'all') return { kind: t };
  if (typeof t === 'string') return { kind: 'tag', tag: t.slice('tag:'.length) };
  return { kind: 'tag', tag: t.tag };
}

function toScheduleSpec(
  s: ScheduleFile,
  i: number,
  defaultZone: string,
  defaultLimit: number,
  dur: Dur,
  fail: Fail,
): ScheduleSpec {
  const at = (k: string): PropertyKey[] => ['schedules', i, k];
  let timezone = defaultZone;
  if (s.timezone !== undefined) {
    try {
      timezone = validateTimezone(s.timezone);
    } catch (err) {
      throw fail(at('timezone'), (err as Error).message);
    }
  }
  let expr: string;
  if (s.cron !== undefined) {
    expr = s.cron.trim();
  } else {
    expr = `@every ${typeof s.every === 'number' ? `${s.every}s` : s.every!.trim()}`;
  }
  try {
    compileSchedule(expr, { timezone, name: s.name });
  } catch (err) {
    if (err instanceof CronSyntaxError) {
      const key = s.cron !== undefined ? 'cron' : 'every';
      throw fail(at(key), err.message);
    }
    throw err;
  }
  const misfire = typeof s.misfire === 'string' ? { policy: s.misfire, limit: undefined } : s.misfire;
  const retries = typeof s.retries === 'number' ? { max: s.retries, backoff: undefined } : s.retries;
  return {
    name: s.name,
    expr,
    timezone,
    task: s.task,
    target: toTarget(s.target),
    concurrency: s.concurrency,
    misfire: misfire.policy,
    misfireLimit: misfire.limit ?? defaultLimit,
    retries: { max: retries.max, backoffMs: retries.backoff === undefined ? 30_000 : dur(retries.backoff, [...at('retries'), 'backoff']) },
    timeoutMs: s.timeout === undefined ? null : dur(s.timeout, at('timeout')),
    jitterMs: s.jitter === undefined ? 0 : dur(s.jitter, at('jitter')),
    source: 'config',
  };
}

/**
 * A schedule that comes from elsewhere than the file (the HTTP API), under the same rules as the
 * file's. Errors are ConfigErrors whose path is the field inside the schedule (`cron`, `timezone`).
 */
export function scheduleSpecFrom(s: ScheduleFile, opts: { defaultZone: string; misfireLimit: number }): ScheduleSpec {
  const field = (segments: PropertyKey[]) => segments.slice(2).join('.');
  const fail: Fail = (segments, message) => new ConfigError(field(segments), message);
  const dur: Dur = (v, segments) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    try {
      return parseDuration(v, field(segments));
    } catch (err) {
      throw fail(segments, `"${v}" ${(err as CronSyntaxError).expected}`);
    }
  };
  return toScheduleSpec(s, 0, opts.defaultZone, opts.misfireLimit, dur, fail);
}
