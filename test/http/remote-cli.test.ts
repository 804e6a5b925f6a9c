import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToJson } from '../../src/cli/context.js';
import { spawn } from 'node:child_process';
import { BIN, type CliResult } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { startApiNode, type ApiNode } from './harness.js';

let api: ApiNode;

beforeAll(async () => {
  api = await startApiNode(`
schedules:
  - { name: hello, cron: "0 0 1 1 *", task: hello }
  - { name: nap, cron: "0 0 1 1 *", task: nap }
`);
});
afterAll(() => api?.stop());

/**
 * Runs the real bin without blocking this process: the node answering it lives here, so a
 * synchronous spawn would leave its requests unanswered.
 */
function cli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The bin with --api and a token; no config file exists anywhere it could read. */
const remote = (args: string[], role: 'viewer' | 'operator' | 'admin' = 'operator') =>
  cli([...args, '--api', api.url, '--token', api.tokens[role]], { cwd: api.dir, env: { CRONFLEET_CONFIG: '/nonexistent/cronfleet.yaml' } });

describe('the CLI against a remote node (--api URL --token T)', () => {
  it('triggers, lists runs and prints logs the same way as against the store', async () => {
    const trig = await remote(['trigger', 'hello']);
    expect(trig.stderr).toBe('');
    expect(trig.status).toBe(0);
    const id = Number(/run (\d+) queued/.exec(trig.stdout)![1]);
    await waitFor('the run to finish', async () => (await api.node.store.getRun(id))?.status === 'succeeded');

    const listed = await remote(['runs', '--schedule', 'hello', '--json'], 'viewer');
    expect(listed.status).toBe(0);
    const local = (await api.node.store.listRuns({ schedule: 'hello', limit: 20 })).map(runToJson);
    expect(JSON.parse(listed.stdout)).toEqual(local);
    const table = await remote(['runs'], 'viewer');
    expect(table.stdout).toMatch(new RegExp(`^${id}\\s+hello\\s+.*succeeded\\s+api-test`, 'm'));

    const logs = await remote(['logs', String(id)], 'viewer');
    expect(logs.status).toBe(0);
    expect(logs.stdout).toBe('hello\n');
    expect(logs.stderr).toBe('oops\n');
  });

  it('pages through long listings and honours filters', async () => {
    // One millisecond apart: two manual fires at the same instant are one too many.
    const at = api.node.clock.now();
    for (let i = 0; i < 3; i++) await api.node.store.triggerSchedule('hello', { now: at + i, nodeTtlMs: 30_000, node: 't' });
    const all = (await api.node.store.listRuns({ limit: 100 })).map((r) => r.id);
    const two = JSON.parse((await remote(['runs', '--limit', '2', '--json'], 'viewer')).stdout);
    expect(two.map((r: { id: number }) => r.id)).toEqual(all.slice(0, 2));
    const rest = JSON.parse((await remote(['runs', '--before', String(all[1]), '--json'], 'viewer')).stdout);
    expect(rest.map((r: { id: number }) => r.id)).toEqual(all.slice(2));
    const bad = await remote(['runs', '--status', 'weird'], 'viewer');
    expect(bad.status).toBe(2);
  });

  it('pauses, resumes, lists schedules and cancels; env vars stand in for the flags', async () => {
    expect((await remote(['pause', 'hello'])).stdout).toBe('hello: paused\n');
    expect((await api.node.store.getSchedule('hello'))?.paused).toBe(true);
    const env = await cli(['schedules', '--json'], { cwd: api.dir, env: { CRONFLEET_API: api.url, CRONFLEET_TOKEN: api.tokens.viewer, CRONFLEET_CONFIG: '/nonexistent.yaml' } });
    expect(env.status).toBe(0);
    expect(JSON.parse(env.stdout).map((s: { name: string; paused: boolean }) => [s.name, s.paused])).toEqual([
      ['hello', true],
      ['nap', false],
    ]);
    expect((await remote(['resume', 'hello'])).stdout).toBe('hello: resumed\n');

    const fire = await api.node.store.triggerSchedule('nap', { now: api.node.clock.now(), nodeTtlMs: 30_000, node: 't' });
    const id = fire.runs[0]!.id;
    await waitFor('nap to run', async () => (await api.node.store.getRun(id))?.status === 'running');
    const c = await remote(['cancel', String(id)]);
    expect(c.stdout).toBe(`run ${id}: stop requested\n`);
    await waitFor('nap to be cancelled', async () => (await api.node.store.getRun(id))?.status === 'cancelled');
    const audit = await api.node.store.listAudit({ limit: 10 });
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['run.cancel', 'schedule.pause', 'schedule.resume', 'schedule.trigger']));
  });

  it('says what is wrong: no token, a low role, an unknown name, an unreachable node', async () => {
    const noToken = await cli(['runs', '--api', api.url], { env: { CRONFLEET_TOKEN: '' } });
    expect(noToken.status).toBe(2);
    expect(noToken.stderr).toMatch(/--api needs a token/);
    const low = await remote(['trigger', 'hello'], 'viewer');
    expect(low.status).toBe(1);
    expect(low.stderr).toMatch(/needs the operator role/);
    const missing = await remote(['pause', 'ghost']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/schedule "ghost" does not exist/);
    const down = await cli(['runs', '--api', 'http://127.0.0.1:9', '--token', 'x']);
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the API at http:\/\/127\.0\.0\.1:9/);
  });
});
