/**
 * A gearman-worker started with a store records each job as a run, so the same history a node
 * keeps (`cronfleet runs`) covers jobs that came from a distributed-cron client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGearmand, waitFor, type Gearmand } from '../../helpers/gearmand.js';
import { serverStatus } from '../../../src/gearman/admin.js';
import { runPerlClient } from '../../gearman/perl-peers.js';
import { exited, runCli, startCliWorker, writeJson, writeScript } from './cli-helpers.js';

let gd: Gearmand;
let tmp: string;
beforeAll(async () => {
  gd = await startGearmand();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'cf-dcron-store-'));
});
afterAll(async () => {
  await gd?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('gearman-worker --store', () => {
  it('records every job as a run that `cronfleet runs --store` lists with its output and status', async () => {
    const ok = writeScript(path.join(tmp, 'ok.sh'), 'echo done-ok');
    const bad = writeScript(path.join(tmp, 'bad.sh'), 'echo broken >&2; exit 4');
    const conf = writeJson(path.join(tmp, 'worker.json'), { job_servers: [{ server: gd.host, port: gd.port }], jobs: { dc_ok: ok, dc_bad: bad } });
    const store = `sqlite:${path.join(tmp, 'runs.db')}`;
    const w = startCliWorker(['--conf', conf, '--store', store, '--node', 'gw-1']);
    try {
      await waitFor(async () => (await serverStatus(gd)).filter((f) => f.workers === 1).length === 2, 'the worker to register both tasks');
      expect((await runPerlClient([gd], 'dc_ok', { unique: 'u-ok' })).code).toBe(0);
      await runPerlClient([gd], 'dc_bad', { unique: 'u-bad' });
      const list = async () => JSON.parse((await runCli(['runs', '--store', store, '--json'])).stdout) as Array<Record<string, unknown>>;
      await waitFor(async () => (await list()).filter((r) => r.status !== 'running').length === 2, 'both runs recorded as finished');
      const runs = await list();
      const byTask = Object.fromEntries(runs.map((r) => [r.task, r]));
      expect(byTask.dc_ok).toMatchObject({ schedule: 'gearman:dc_ok', node: 'gw-1', status: 'succeeded', exitCode: 0, attempt: 1 });
      expect(byTask.dc_bad).toMatchObject({ schedule: 'gearman:dc_bad', node: 'gw-1', status: 'failed', exitCode: 4, reason: 'exit 4' });
      const logs = await runCli(['logs', String(byTask.dc_bad!.id), '--store', store]);
      expect(logs.stderr).toBe('broken\n');
    } finally {
      w.proc.kill('SIGTERM');
      await exited(w.proc);
    }
  });
});
