import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import type { Run } from '../../src/store/types.js';
import { cli, exited, startCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { isDead } from '../executor/helpers.js';

let dir: string;
let children: Array<ReturnType<typeof startCli>>;
let store: Store;

const config = (extra = '') => `
node: { name: serve-test }
store: sqlite:./cf.db
http: false
executor: { heartbeat: 500ms, lease: 3s, poll: 2s, shutdownGrace: 5s, killGrace: 1s }
tasks:
  tick: { command: [sh, -c, 'echo "tick $CRONFLEET_SCHEDULED_AT"'] }
  long: { command: [sleep, '20'] }
schedules:
  - name: every-second
    cron: "* * * * * *"
    task: tick
  - name: long-job
    cron: "0 0 1 1 *"
    task: long
    retries: { max: 1, backoff: 1s }
${extra}`;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cf-serve-'));
  writeFileSync(join(dir, 'cronfleet.yaml'), config());
  children = [];
});

afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function serve() {
  const child = startCli(['serve', '--config', join(dir, 'cronfleet.yaml'), '--log-level', 'debug']);
  children.push(child);
  return child;
}

async function runs(schedule: string): Promise<Run[]> {
  return (await store.listRuns({ schedule, limit: 10_000 })).sort((a, b) => a.scheduledAt - b.scheduledAt || a.attempt - b.attempt);
}

/** Every instant between the first and last fire appears exactly once (first attempts). */
function expectContiguousOncePerSecond(list: Run[]): void {
  const firsts = list.filter((r) => r.attempt === 1).map((r) => r.scheduledAt);
  expect(new Set(firsts).size).toBe(firsts.length);
  for (let i = 1; i < firsts.length; i++) expect(firsts[i]! - firsts[i - 1]!).toBe(1000);
}

describe('cronfleet serve', () => {
  it('runs an every-second schedule once per instant and stops cleanly on SIGTERM', async () => {
    const node = serve();
    store = await openStore(`sqlite:${join(dir, 'cf.db')}`);
    await waitFor('five succeeded runs', async () => (await runs('every-second')).filter((r) => r.status === 'succeeded').length >= 5, 30_000);
    const stoppedAt = Date.now();
    node.kill('SIGTERM');
    expect((await exited(node)).code).toBe(0);
    const list = await runs('every-second');
    expectContiguousOncePerSecond(list);
    // The fire prepared ahead for the next instant may wait queued for the next start.
    const done = list.filter((r) => !(r.status === 'queued' && r.notBefore > stoppedAt - 1000));
    expect(list.length - done.length).toBeLessThanOrEqual(1);
    expect(done.every((r) => r.status === 'succeeded')).toBe(true);
    const out = await store.getRunOutput(list[0]!.id);
    expect(out!.stdout).toBe(`tick ${new Date(list[0]!.scheduledAt).toISOString()}\n`);
    expect(node.log()).toMatch(/node stopped/);
  });

  it('after kill -9 and restart: the killed run is lost and retried, no instant fired twice', async () => {
    const first = serve();
    store = await openStore(`sqlite:${join(dir, 'cf.db')}`);
    await waitFor('the node to fire', async () => (await runs('every-second')).length >= 2, 30_000);
    const trig = cli(['trigger', 'long-job', '--config', join(dir, 'cronfleet.yaml'), '--json']);
    expect(trig.status).toBe(0);
    const longRun = (JSON.parse(trig.stdout) as { runs: Array<{ id: number }> }).runs[0]!.id;
    await waitFor('the long run to start', async () => (await store.getRun(longRun))?.status === 'running');
    const pid = first.pid!;
    first.kill('SIGKILL');
    await exited(first);
    // The killed node's task process is in its own group and keeps running: that is the point of leases.
    const second = serve();
    await waitFor('the killed run to be marked lost', async () => (await store.getRun(longRun))?.status === 'lost', 30_000);
    const lost = (await store.getRun(longRun))!;
    expect(lost.reason).toMatch(/restart|lost|lease/i);
    const retry = await waitFor('its retry to run', async () => (await runs('long-job')).find((r) => r.attempt === 2 && r.status === 'running'), 30_000);
    expect(retry.scheduledAt).toBe(lost.scheduledAt);
    const before = (await runs('every-second')).length;
    await waitFor('more fires after the restart', async () => (await runs('every-second')).length >= before + 3, 30_000);
    const stoppedAt = Date.now();
    second.kill('SIGTERM');
    expect((await exited(second)).code).toBe(0);
    expect(pid).toBeGreaterThan(0);
    const ticks = await runs('every-second');
    expectContiguousOncePerSecond(ticks);
    // A graceful stop leaves nothing running: the retry of the long job was cancelled.
    const all = await store.listRuns({ limit: 10_000 });
    expect(all.filter((r) => r.status === 'running')).toEqual([]);
    // Fires prepared ahead of their instant stay queued for the next node to start; nothing older.
    expect(all.filter((r) => r.status === 'queued' && r.notBefore <= stoppedAt - 1000)).toEqual([]);
    expect((await store.getRun(retry.id))!.status).toBe('cancelled');
  }, 90_000);

  it('starts its process launcher helper with its first command run, not before, and the helper leaves with it', async () => {
    writeFileSync(
      join(dir, 'cronfleet.yaml'),
      `node: { name: serve-test }
store: sqlite:./cf.db
http: false
executor: { heartbeat: 500ms, lease: 3s, poll: 500ms, shutdownGrace: 5s }
tasks:
  nothing: { builtin: noop }
  hello: { command: [echo, hello] }
schedules:
  - { name: noop-every-second, cron: "* * * * * *", task: nothing }
  - { name: hello, cron: "0 0 1 1 *", task: hello }
`,
    );
    const node = serve();
    store = await openStore(`sqlite:${join(dir, 'cf.db')}`);
    await waitFor('two no-op runs', async () => (await runs('noop-every-second')).filter((r) => r.status === 'succeeded').length >= 2, 30_000);
    expect(helpersOf(node.pid!)).toEqual([]);

    const trig = cli(['trigger', 'hello', '--config', join(dir, 'cronfleet.yaml'), '--json']);
    expect(trig.status).toBe(0);
    const id = (JSON.parse(trig.stdout) as { runs: Array<{ id: number }> }).runs[0]!.id;
    const done = await waitFor('the command run to end', async () => {
      const r = await store.getRun(id);
      return r && r.status !== 'queued' && r.status !== 'running' ? r : null;
    });
    expect(done.status).toBe('succeeded');
    expect((await store.getRunOutput(id))!.stdout).toBe('hello\n');
    const helpers = helpersOf(node.pid!);
    expect(helpers).toHaveLength(1);

    node.kill('SIGTERM');
    expect((await exited(node)).code).toBe(0);
    await waitFor('the helper to leave with the node', () => isDead(helpers[0]!));
  });
});

/** The process launcher helpers among a process's children. */
function helpersOf(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  return children.filter((c) => {
    try {
      return readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('launcher-helper');
    } catch {
      return false;
    }
  });
}

