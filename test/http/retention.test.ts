import { existsSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { Pruner } from '../../src/http/retention.js';
import { waitFor } from '../helpers/wait.js';
import { startApiNode, type ApiNode } from './harness.js';

let api: ApiNode;

beforeAll(async () => {
  api = await startApiNode(`
schedules:
  - { name: hello, cron: "0 0 1 1 *", task: hello }
`);
});
afterAll(() => api?.stop());

async function runHello(): Promise<number> {
  const fire = await api.node.store.triggerSchedule('hello', { now: api.node.clock.now(), nodeTtlMs: 30_000, node: 't' });
  const id = fire.runs[0]!.id;
  await waitFor(`run ${id} to finish`, async () => (await api.node.store.getRun(id))?.status === 'succeeded');
  return id;
}

describe('retention', () => {
  it('keeps the newest N runs per schedule, deleting the others\' rows and log files, and orphaned logs', async () => {
    const ids = [await runHello(), await runHello(), await runHello()];
    const logs = await Promise.all(ids.map(async (id) => (await api.node.store.getRun(id))!.logPath!));
    for (const l of logs) expect(existsSync(l)).toBe(true);
    // A log left behind by a run another node pruned: its row is gone, the file is old.
    const orphan = join(api.node.config.dataDir, 'logs', '999999.log');
    mkdirSync(join(api.node.config.dataDir, 'logs'), { recursive: true });
    writeFileSync(orphan, 'old\n');
    utimesSync(orphan, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));

    const pruner = new Pruner({ store: api.node.store, clock: api.node.clock, log: silentLogger(), dataDir: api.node.config.dataDir, maxAgeMs: null, keepPerSchedule: 1, everyMs: 3_600_000 });
    expect(await pruner.pruneOnce()).toEqual({ runs: 2, files: 3 });
    expect((await api.node.store.listRuns({ schedule: 'hello', limit: 10 })).map((r) => r.id)).toEqual([ids[2]]);
    expect(logs.map((l) => existsSync(l))).toEqual([false, false, true]);
    expect(existsSync(orphan)).toBe(false);

    // By age: everything finished before now goes.
    const byAge = new Pruner({ store: api.node.store, clock: api.node.clock, log: silentLogger(), dataDir: api.node.config.dataDir, maxAgeMs: 0, keepPerSchedule: null, everyMs: 3_600_000 });
    expect((await byAge.pruneOnce()).runs).toBe(1);
    expect(await api.node.store.listRuns({ limit: 10 })).toEqual([]);
  });

  it('is configured under retention and validated', async () => {
    const { parseConfigText } = await import('../../src/config/load.js');
    expect(parseConfigText('retention: { maxAge: 30d, keepPerSchedule: 100 }', null).retention).toEqual({ maxAgeMs: 30 * 86_400_000, keepPerSchedule: 100, everyMs: 3_600_000 });
    expect(parseConfigText('', null).retention).toBe(false);
    expect(() => parseConfigText('retention: { keepPerSchedule: 0 }', null)).toThrow(/retention\.keepPerSchedule/);
    expect(() => parseConfigText('notifications: { webhooks: [{ url: "nope" }] }', null)).toThrow(/notifications\.webhooks\.0\.url: expected an http/);
    expect(() => parseConfigText('notifications: { mail: [{ smtp: "smtp://x", from: "a@b.org", to: ["c@d.org"], events: [exploded] }] }', null)).toThrow(/expected failed, timed_out, lost or recovered/);
  });
});
