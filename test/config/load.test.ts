import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigFileApart, parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const base = `
node: { name: web-1, tags: [eu] }
store: sqlite:./data/x.db
timezone: Europe/Paris
tasks:
  backup: { command: [/usr/local/bin/backup, --full], timeout: 2h, cwd: /srv, env: { A: b } }
  report: { command: "php report.php | gzip > /tmp/r.gz", shell: true, nice: 10 }
  ping: { http: { url: "http://127.0.0.1:9000/health", method: GET, expect: 200 } }
  nothing: { builtin: noop }
schedules:
  - name: nightly-backup
    cron: "H 2 * * *"
    task: backup
    timezone: America/New_York
    concurrency: forbid
    misfire: run-once
    retries: { max: 3, backoff: 30s }
    timeout: 3h
    jitter: 30s
  - name: pinger
    every: 90s
    task: ping
    target: tag:eu
`;

describe('config loading', () => {
  it('reads the documented example into typed values', () => {
    const cfg = parseConfigText(base, '/etc/cronfleet/c.yaml');
    expect(cfg.node).toEqual({ name: 'web-1', tags: ['eu'] });
    expect(cfg.store).toBe('sqlite:/etc/cronfleet/data/x.db');
    expect(cfg.dataDir).toBe('/etc/cronfleet/data');
    expect(cfg.timezone).toBe('Europe/Paris');
    expect(cfg.tasks.get('backup')).toEqual({ kind: 'command', argv: ['/usr/local/bin/backup', '--full'], shell: false, cwd: '/srv', env: { A: 'b' }, timeoutMs: 7_200_000 });
    expect(cfg.tasks.get('report')).toEqual({ kind: 'command', argv: ['php report.php | gzip > /tmp/r.gz'], shell: true, nice: 10 });
    expect(cfg.tasks.get('ping')).toEqual({ kind: 'http', url: 'http://127.0.0.1:9000/health', method: 'GET', expect: [200] });
    expect(cfg.tasks.get('nothing')).toEqual({ kind: 'builtin', builtin: 'noop' });
    expect(cfg.schedules[0]).toEqual({
      name: 'nightly-backup',
      expr: 'H 2 * * *',
      timezone: 'America/New_York',
      task: 'backup',
      target: { kind: 'any' },
      concurrency: 'forbid',
      misfire: 'run-once',
      misfireLimit: 100,
      retries: { max: 3, backoffMs: 30_000 },
      timeoutMs: 10_800_000,
      jitterMs: 30_000,
      source: 'config',
    });
    expect(cfg.schedules[1]).toMatchObject({ expr: '@every 90s', timezone: 'Europe/Paris', target: { kind: 'tag', tag: 'eu' } });
    expect(cfg.executor.leaseMs).toBe(10_000);
    expect(cfg.executor.heartbeatMs).toBe(2_000);
    expect(cfg.cluster.nodeTtlMs).toBe(6_000);
    expect(cfg.memory).toBe('lean');
    expect(cfg.executor.spawn).toBe('helper');
    expect(cfg.http).toEqual({ host: '127.0.0.1', port: 8080, metrics: 'open', bodyLimit: 65_536 });
  });

  it('reads JSON too', () => {
    const cfg = parseConfigText('{"node":{"name":"a"},"tasks":{"t":{"builtin":"noop"}},"schedules":[{"name":"s","every":"1s","task":"t"}]}', 'c.json');
    expect(cfg.schedules[0]!.expr).toBe('@every 1s');
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown top-level key', 'nodes: {}', /line 1: \(top level\): unknown key "nodes"/],
    ['YAML syntax', 'tasks: [', /line \d+, column \d+/],
    ['store scheme', 'store: mysql://x', /line 1: store: expected sqlite:PATH .* or postgres:\/\/user@host:5432\/db/],
    ['duplicate YAML key', 'timezone: UTC\ntimezone: UTC', /line 2/],
    ['bad zone', 'timezone: Mars/Olympus', /timezone: .*Mars\/Olympus/],
    ['string command without shell', 'tasks: { r: { command: "php r.php | gzip" } }', /line 1: tasks\.r\.command: "php r\.php \| gzip" needs a shell to run; set shell: true, or give an argv array/],
    ['argv with shell', 'tasks: { r: { command: [a, b], shell: true } }', /with shell: true, give the command as one string/],
    ['task with two kinds', 'tasks: { r: { command: [a], builtin: noop } }', /tasks\.r: .*(exactly one of command, http, builtin, gearman|unknown key)/],
    ['task with no kind', 'tasks: { r: { timeout: 5s } }', /tasks\.r: expected exactly one of command, http, builtin, gearman \(found none\)/],
    ['nice out of range', 'tasks: { r: { command: [a], nice: 40 } }', /tasks\.r\.nice: expected a niceness from -20 to 19/],
    ['bad duration', 'tasks: { r: { command: [a], timeout: 5 minutes } }', /tasks\.r\.timeout: "5 minutes" is not a duration/],
    ['cron and every', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, cron: "* * * * *", every: 5s, task: t }]', /schedules\.0\.cron: expected exactly one of cron or every/],
    ['neither cron nor every', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, task: t }]', /expected exactly one of cron or every/],
    ['bad cron field', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, cron: "61 * * * *", task: t }]', /line 2: schedules\.0\.cron: minute field: "61" is out of range 0-59/],
    ['impossible cron', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, cron: "0 0 30 2 *", task: t }]', /schedules\.0\.cron: .*never/i],
    ['unknown task', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, cron: "* * * * *", task: x }]', /line 2: schedules\.0\.task: "x" is not one of this node's tasks \(t\)/],
    ['duplicate schedule', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, every: 5s, task: t }, { name: s, every: 6s, task: t }]', /schedules\.1\.name: .*"s" is used by another schedule/],
    ['bad policy', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, every: 5s, task: t, concurrency: never }]', /schedules\.0\.concurrency: expected allow, forbid or replace/],
    ['bad target', 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, every: 5s, task: t, target: some }]', /schedules\.0\.target: expected any, all, "tag:NAME" or \{ tag: NAME \}/],
    ['bad name', 'tasks: { "a b": { builtin: noop } }', /line 1: tasks\.a b: "a b": expected a name of letters/],
    ['bad listen', 'http: { listen: "8080" }', /http\.listen: expected host:port/],
    ['bad memory profile', 'memory: small', /line 1: memory: expected lean .* or v8/],
    ['bad spawn mode', 'executor: { spawn: fork }', /line 1: executor\.spawn: expected helper .* or inline/],
    ['bad url', 'tasks: { p: { http: { url: "not a url" } } }', /tasks\.p\.http\.url: expected an http/],
    ['heartbeat too long for the lease', 'executor: { lease: 10s, heartbeat: 6s }', /line 1: executor\.heartbeat: "6s" is too long for a lease of "10s": expected at most half the lease/],
    ['node TTL too short for the heartbeat', 'executor: { heartbeat: 2s }\ncluster: { nodeTtl: 3s }', /line 2: cluster\.nodeTtl: "3s" is too short for a heartbeat of "2s": expected at least two heartbeats/],
  ];

  it.each(bad)('rejects %s with a message naming the place and the expected form', (_name, text, message) => {
    let error: unknown;
    try {
      parseConfigText(text, 'bad.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CF_ERR_CONFIG');
    expect((error as ConfigError).message).toMatch(/^bad\.yaml: /);
    expect((error as ConfigError).message).toMatch(message);
  });

  describe('in a worker thread (serve)', () => {
    const apart = { apartFrom: 0 };
    const dir = mkdtempSync(join(tmpdir(), 'cf-config-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };

    it('reads the same config as in the calling thread', async () => {
      const path = file('c.yaml', base);
      expect(await loadConfigFileApart(path, { store: 'sqlite::memory:' }, apart)).toEqual(loadConfigFile(path, { store: 'sqlite::memory:' }));
      const empty = file('empty.yaml', '');
      expect(await loadConfigFileApart(empty, {}, apart)).toEqual(loadConfigFile(empty));
    });

    it.each(bad)('rejects %s with the same error as in the calling thread', async (_name, text) => {
      const path = file('bad.yaml', text);
      let inThread: unknown;
      try {
        loadConfigFile(path);
      } catch (err) {
        inThread = err;
      }
      const e = inThread as ConfigError;
      expect(e).toBeInstanceOf(ConfigError);
      await expect(loadConfigFileApart(path, {}, apart)).rejects.toMatchObject({ constructor: ConfigError, message: e.message, path: e.path, file: e.file, line: e.line });
    });

    it('parses a big file apart by default, and a small one in the calling thread', async () => {
      const lines = ['tasks: { t: { builtin: noop } }', 'schedules:'];
      for (let i = 0; i < 2_000; i++) lines.push(`  - { name: s${i}, cron: "${i % 60} * * * *", task: t }`);
      const big = file('big.yaml', lines.join('\n'));
      expect(await loadConfigFileApart(big)).toEqual(loadConfigFile(big));
      const small = file('small.yaml', base);
      expect(await loadConfigFileApart(small)).toEqual(loadConfigFile(small));
    });

    it('says when the file cannot be read', async () => {
      await expect(loadConfigFileApart(join(dir, 'missing.yaml'), {}, apart)).rejects.toThrow(/missing\.yaml: .*file not found/);
    });
  });
});

