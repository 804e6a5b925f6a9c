import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { cli, exited, startCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let cfg: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-cli-'));
  cfg = join(dir, 'cronfleet.yaml');
  writeFileSync(
    cfg,
    `node: { name: cli-node }
store: sqlite:./cf.db
http: false
timezone: UTC
tasks:
  hello: { command: [sh, -c, 'echo hello; echo oops >&2'] }
schedules:
  - { name: yearly, cron: "0 0 1 1 *", task: hello }
  - { name: daily, cron: "30 4 * * *", task: hello, timezone: Asia/Kolkata }
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('node commands on a store shared with serve', () => {
  it('validate: exit 0 with a summary, 2 with the error on stderr', () => {
    const ok = cli(['validate', '--config', cfg, '--json']);
    expect(ok.status).toBe(0);
    const summary = JSON.parse(ok.stdout);
    expect(summary).toMatchObject({ valid: true, node: { name: 'cli-node' }, tasks: ['hello'] });
    expect(summary.schedules[1]).toMatchObject({ name: 'daily', expr: '30 4 * * *', timezone: 'Asia/Kolkata' });
    expect(summary.schedules[1].nextLocal).toMatch(/T04:30:00\+05:30$/);

    const badFile = join(dir, 'bad.yaml');
    writeFileSync(badFile, 'tasks: { t: { builtin: noop } }\nschedules: [{ name: s, cron: "61 * * * *", task: t }]\n');
    const bad = cli(['validate', '--config', badFile]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(`cronfleet: ${badFile}: line 2: schedules.0.cron: minute field: "61" is out of range 0-59\n`);
    expect(bad.stdout).toBe('');

    const missing = cli(['validate', '--config', join(dir, 'nope.yaml')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nope\.yaml: file not found/);
  });

  it('trigger with no live node offering the task: recorded skipped with the reason, exit 1', () => {
    const r = cli(['trigger', 'yearly', '--config', cfg]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^yearly: run \d+ skipped \(no live node offers task "hello"\)\n$/);
  });

  it('trigger, runs, logs: a manual run is run by the node, listed, and its output readable', async () => {
    const serve = startCli(['serve', '--config', cfg]);
    const store: Store = await openStore(`sqlite:${join(dir, 'cf.db')}`);
    let runId: number;
    try {
      await waitFor('the node to register', async () => (await store.listNodes()).some((n) => n.name === 'cli-node'));
      const trig = cli(['trigger', 'yearly', '--config', cfg, '--json']);
      expect(trig.status).toBe(0);
      const fire = JSON.parse(trig.stdout);
      runId = fire.runs[0].id as number;
      expect(fire.runs[0]).toMatchObject({ schedule: 'yearly', task: 'hello', attempt: 1, status: 'queued', manual: true });
      await waitFor('the run to succeed', async () => (await store.getRun(runId))?.status === 'succeeded');
    } finally {
      serve.kill('SIGTERM');
      await exited(serve);
      await store.close();
    }
    const listed = cli(['runs', '--config', cfg, '--schedule', 'yearly', '--status', 'succeeded', '--json']);
    expect(listed.status).toBe(0);
    const [run] = JSON.parse(listed.stdout);
    expect(run).toMatchObject({ id: runId, schedule: 'yearly', task: 'hello', node: 'cli-node', attempt: 1, status: 'succeeded', exitCode: 0, signal: null, reason: null, manual: true });
    for (const k of ['scheduledAt', 'startedAt', 'finishedAt']) expect(run[k]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const logs = cli(['logs', String(runId), '--config', cfg]);
    expect(logs.status).toBe(0);
    expect(logs.stdout).toBe('hello\noops\n');
    const human = cli(['runs', '--config', cfg, '--status', 'succeeded']);
    expect(human.stdout).toMatch(new RegExp(`^ID +SCHEDULE .*\\n${runId} +yearly `));
  }, 60_000);

  it('pause and resume change what schedules shows', () => {
    expect(cli(['pause', 'daily', '--config', cfg]).stdout).toBe('daily: paused\n');
    const paused = JSON.parse(cli(['schedules', '--config', cfg, '--json']).stdout);
    expect(paused.find((s: { name: string }) => s.name === 'daily')).toMatchObject({ paused: true, next: null });
    expect(cli(['resume', 'daily', '--config', cfg]).stdout).toBe('daily: resumed\n');
    const resumed = JSON.parse(cli(['schedules', '--config', cfg, '--json']).stdout);
    expect(resumed.find((s: { name: string }) => s.name === 'daily').next).toMatch(/T23:00:00\.000Z$/);
  });

  it('usage errors exit 2 and name what was wrong', () => {
    const r = cli(['runs', '--config', cfg, '--status', 'done']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--status: "done" is not a run status; expected one of queued, running/);
    const missing = cli(['trigger', 'nope', '--config', cfg]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/schedule "nope"/);
    expect(cli(['logs', 'x', '--config', cfg]).status).toBe(2);
  });

  it('import-crontab turns a crontab into tasks and schedules, listing what it cannot carry over', () => {
    const tab = join(dir, 'my.crontab');
    writeFileSync(
      tab,
      `# m h dom mon dow command
MAILTO=ops@example.com
PATH=/usr/bin:/bin
CRON_TZ=Europe/Berlin
*/5 * * * * /usr/local/bin/poll --fast >/dev/null 2>&1
0 3 * * 1-5 root /usr/local/bin/backup
@daily /usr/bin/find /tmp -mtime +7 -delete
@reboot /usr/local/bin/start-things
15 2 * * * echo 50% done
61 * * * * /bin/true
`,
    );
    const r = cli(['import-crontab', tab, '--json']);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.schedules).toEqual([
      { name: 'poll', cron: '*/5 * * * *', task: 'poll', timezone: 'Europe/Berlin', misfire: 'skip' },
      { name: 'backup', cron: '0 3 * * 1-5', task: 'backup', timezone: 'Europe/Berlin', misfire: 'skip' },
      { name: 'find', cron: '@daily', task: 'find', timezone: 'Europe/Berlin', misfire: 'skip' },
    ]);
    expect(out.tasks.poll).toEqual({ command: '/usr/local/bin/poll --fast >/dev/null 2>&1', shell: true, env: { PATH: '/usr/bin:/bin' } });
    expect(out.tasks.backup.user).toBe('root');
    expect(out.warnings).toEqual([
      'line 2: MAILTO is not carried over; use notifications instead',
      'line 8: @reboot has no equivalent in a scheduler; left out: @reboot /usr/local/bin/start-things',
      'line 9: "%" (stdin for the command) is not carried over; rewrite the command with a here-string or printf; left out: 15 2 * * * echo 50% done',
      'line 10: minute field: "61" is out of range 0-59; left out',
    ]);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(4);

    // The YAML output is a config fragment that validates once a node section is added.
    const yaml = cli(['import-crontab', tab, '-o', join(dir, 'imported.yaml')]);
    expect(yaml.status).toBe(1);
    const check = cli(['validate', '--config', join(dir, 'imported.yaml'), '--store', `sqlite:${join(dir, 'x.db')}`]);
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});
