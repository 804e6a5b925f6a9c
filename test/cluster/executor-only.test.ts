import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A node started with `scheduler: false` only executes: it takes no share of the scheduling.
 * If it did, the schedules it "owned" would be planned by the scheduling node only as a
 * takeover, 500 ms after their instant, instead of `lead` (here 2 s) before it.
 */

const LEAD_MS = 2_000;
const SCHEDULES = 12;

let cluster: Cluster | null = null;

afterAll(async () => {
  await cluster?.destroy();
});

describe('a node with scheduler: false', () => {
  it('is listed as such and leaves every fire to the nodes that schedule', async () => {
    cluster = await Cluster.create('cf_executor_only');
    const tasks = { beat: { builtin: 'noop' } };
    const schedules = Array.from({ length: SCHEDULES }, (_, i) => ({ name: `s${i}`, cron: '* * * * * *', task: 'beat' }));
    const executor = { heartbeat: '500ms', lease: '3s', shutdownGrace: '5s' };
    cluster.define('eo-sched', { tasks, schedules, executor, scheduler: { lead: `${LEAD_MS}ms` }, cluster: { nodeTtl: '2s' } });
    cluster.define('eo-exec', { tasks, schedules, executor, scheduler: false, cluster: { nodeTtl: '2s' } });
    const store = await cluster.openStore();
    await cluster.startAll(['eo-sched', 'eo-exec']);

    const listed = cluster.cli('eo-exec', ['nodes', '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ name: string; scheduler: boolean }>).map((n) => [n.name, n.scheduler])).toEqual([
      ['eo-exec', false],
      ['eo-sched', true],
    ]);

    // Fires from a moment when the scheduling node already knew of the other one.
    const from = (await store.clockNow()) + 3_000;
    await waitFor('four seconds of fires', async () => (await store.listRuns({ status: ['succeeded'], from: from + 4_000, limit: 1 })).length > 0, 30_000);
    const db = new pg.Client({ connectionString: cluster.url });
    await db.connect();
    try {
      const fires = (await db.query('SELECT schedule, scheduled_at, created_by, created_at FROM fires WHERE scheduled_at >= $1 AND scheduled_at < $2', [from, from + 4_000])).rows;
      expect(fires).toHaveLength(SCHEDULES * 4);
      // Every one planned ahead by its owner, none taken over after its instant.
      const late = fires.filter((f) => f.created_by !== 'eo-sched' || Number(f.created_at) >= Number(f.scheduled_at));
      expect(late.map((f) => `${f.schedule}@${f.scheduled_at} by ${f.created_by} ${Number(f.created_at) - Number(f.scheduled_at)} ms`)).toEqual([]);
    } finally {
      await db.end();
    }
  }, 60_000);
});
