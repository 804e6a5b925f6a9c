import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RcronSandbox, assertBuilt, runRcron } from './harness.js';

// LOG_LOCAL3 (19) at LOG_NOTICE (5) for job lines, LOG_WARNING (4) for warnings.
const NOTICE = 19 * 8 + 5;
const WARNING = 19 * 8 + 4;

type StateCase = 'active' | 'passive' | 'unreadable' | 'garbage';

const sandboxes: RcronSandbox[] = [];
beforeAll(assertBuilt);
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.close();
});

function sandbox(defaultState: 'active' | 'passive', state: StateCase): RcronSandbox {
  const s = new RcronSandbox();
  sandboxes.push(s);
  s.writeConf({ default_state: defaultState });
  if (state === 'active' || state === 'passive') writeFileSync(s.stateFile, `${state}\n`);
  if (state === 'garbage') writeFileSync(s.stateFile, 'maybe\n');
  // unreadable: no state file at all
  return s;
}

const cases: Array<{ state: StateCase; defaultState: 'active' | 'passive'; runs: boolean; warning: RegExp | null }> = [];
for (const defaultState of ['active', 'passive'] as const) {
  cases.push({ state: 'active', defaultState, runs: true, warning: null });
  cases.push({ state: 'passive', defaultState, runs: false, warning: null });
  cases.push({
    state: 'unreadable',
    defaultState,
    runs: defaultState === 'active',
    warning: new RegExp(`^cluster=jobs state file .*/state cannot be read \\(ENOENT\\); using default_state ${defaultState}$`),
  });
  cases.push({
    state: 'garbage',
    defaultState,
    runs: defaultState === 'active',
    warning: new RegExp(`^cluster=jobs state file .*/state holds "maybe", expected active or passive; using default_state ${defaultState}$`),
  });
}

describe('rcron state matrix', () => {
  it.each(cases)('state $state with default_state $defaultState', async ({ state, defaultState, runs, warning }) => {
    const s = sandbox(defaultState, state);
    const marker = join(s.dir, 'ran');
    const result = await runRcron(['--conf', s.conf, 'sh', '-c', `echo out; echo err >&2; touch ${marker}; exit 7`]);

    expect(existsSync(marker)).toBe(runs);
    expect(result.code).toBe(runs ? 7 : 0);
    // stdout and stderr pass through untouched, so cron mails exactly what the job printed.
    expect(result.stdout).toBe(runs ? 'out\n' : '');
    expect(result.stderr).toBe(runs ? 'err\n' : '');

    const expectedCount = (warning ? 1 : 0) + (runs ? 2 : 1);
    await s.syslog.waitFor(expectedCount);
    const lines = s.lines();
    expect(lines).toHaveLength(expectedCount);
    let i = 0;
    if (warning) {
      expect(lines[i]!.pri).toBe(WARNING);
      expect(lines[i]!.text).toMatch(warning);
      i++;
    }
    const shown = `sh -c "echo out; echo err >&2; touch ${marker}; exit 7"`;
    if (runs) {
      expect(lines[i]!.pri).toBe(NOTICE);
      const start = /^cluster=jobs started pid=(\d+): (.*)$/.exec(lines[i]!.text);
      expect(start?.[2]).toBe(shown);
      expect(lines[i + 1]!.pri).toBe(NOTICE);
      expect(lines[i + 1]!.text).toMatch(new RegExp(`^cluster=jobs finished pid=${start?.[1]} status=7 duration=\\d+\\.\\d{3}s: `));
      expect(lines[i + 1]!.text.endsWith(shown)).toBe(true);
    } else {
      expect(lines[i]).toEqual({ pri: NOTICE, text: `cluster=jobs passive, skipped: ${shown}` });
    }
  });
});

describe('rcron command line and conf errors', () => {
  it('exits 2 with the file and reason on stderr when the conf is missing, running nothing', async () => {
    const s = new RcronSandbox();
    sandboxes.push(s);
    const marker = join(s.dir, 'ran');
    const result = await runRcron(['--conf', join(s.dir, 'absent.conf'), 'touch', marker]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^rcron: .*absent\.conf: cannot read the rcron conf file \(ENOENT\)/);
    expect(existsSync(marker)).toBe(false);
  });

  it('exits 2 naming file, line and key for an unknown key, running nothing', async () => {
    const s = new RcronSandbox();
    sandboxes.push(s);
    writeFileSync(s.conf, `cluster_name = a\nstate_file = ${s.stateFile}\nsyslog_facilty = LOG_CRON\n`);
    writeFileSync(s.stateFile, 'active\n');
    const marker = join(s.dir, 'ran');
    const result = await runRcron(['--conf', s.conf, 'touch', marker]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${s.conf}: line 3: unknown key "syslog_facilty": expected one of cluster_name,`);
    expect(existsSync(marker)).toBe(false);
  });

  it('exits 2 without a command and 0 with --help', async () => {
    const none = await runRcron(['--conf', '/nonexistent']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no command given/);
    const help = await runRcron(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: rcron \[--conf FILE\] command \[args\.\.\.\]/);
    expect(help.stdout).toContain('nice_level');
  });

  it('exits 127 when the command does not exist, and says so', async () => {
    const s = new RcronSandbox();
    sandboxes.push(s);
    s.writeConf();
    writeFileSync(s.stateFile, 'active');
    const result = await runRcron(['--conf', s.conf, join(s.dir, 'no-such-program')]);
    expect(result.code).toBe(127);
    expect(result.stderr).toMatch(/cannot run .*no-such-program: ENOENT/);
    await s.syslog.waitFor(1);
    expect(s.lines()[0]!.pri).toBe(WARNING);
    expect(s.lines()[0]!.text).toMatch(/^cluster=jobs cannot run .*no-such-program: ENOENT status=127$/);
  });
});
