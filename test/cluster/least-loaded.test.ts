import { afterAll, describe, expect, it } from 'vitest';
import type { Run } from '../../src/store/types.js';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/**
 * `any` targets prefer the least loaded node: a node holding more runs than a live peer leaves
 * each new run to it for a quarter of its prefetch per such peer. With an 8 s prefetch that is
 * 2 s: the idle node must be over two seconds late for the busier one to get a run, whenever
 * the busier one's claims come. The busier one holds six long runs, so that the other, whose
 * short runs pile up on a loaded machine, never looks as busy.
 */

const PINNED = 6;
const executor = { heartbeat: '500ms', lease: '3s', shutdownGrace: '5s', killGrace: '1s', prefetch: '8s' };
const cluster_ = { nodeTtl: '2s' };

let cluster: Cluster | null = null;

afterAll(async () => {
  await cluster?.destroy();
});

describe('target: any', () => {
  it('goes to the least loaded node, and to a busier one once it is the only one left', async () => {
    cluster = await Cluster.create('cf_least_loaded');
    const tasks = { long: { command: ['sleep', '60'] }, short: { command: ['sleep', '0.2'] } };
    const schedules = [
      // Never due by itself: triggered to load the node tagged `a`.
      { name: 'pin', cron: '0 0 1 1 *', task: 'long', target: 'tag:a', remoteTask: true },
      { name: 'spread', cron: '* * * * * *', task: 'short', remoteTask: true },
    ];
    cluster.define('ll-a', { tags: ['a'], tasks, schedules, executor, cluster: cluster_ });
    cluster.define('ll-b', { tags: ['b'], tasks, schedules, executor, cluster: cluster_ });
    const store = await cluster.openStore();
    await cluster.startAll(['ll-a', 'll-b']);

    for (let i = 0; i < PINNED; i++) {
      const r = cluster.cli('ll-a', ['trigger', 'pin']);
      expect(r.status, r.stderr).toBe(0);
      await new Promise((res) => setTimeout(res, 5));
    }
    await waitFor('ll-a to hold the long runs', async () => (await store.listRuns({ schedule: 'pin', status: ['running'], limit: 10 })).length === PINNED, 20_000);
    // Both nodes' next heartbeats carry the new loads; runs created after that are judged on them.
    await new Promise((res) => setTimeout(res, 1_500));
    const loadedAt = await store.clockNow();
    await waitFor('eight fires of `spread` after ll-a was loaded', async () => (await spreadRuns(loadedAt)).filter((r) => r.status === 'succeeded').length >= 8, 30_000);
    const whileLoaded = await spreadRuns(loadedAt);
    expect(whileLoaded.filter((r) => r.node !== 'll-b').map((r) => `${r.id} ${r.status} on ${r.node}`)).toEqual([]);

    // Alone, the busier node is the least loaded there is: it runs every fire.
    expect(await cluster.stop('ll-b')).toBe(0);
    const aloneAt = (await store.clockNow()) + 3_000;
    await waitFor('fires of `spread` on ll-a alone', async () => (await spreadRuns(aloneAt)).filter((r) => r.status === 'succeeded').length >= 3, 30_000);
    expect((await spreadRuns(aloneAt)).filter((r) => r.node !== 'll-a' && r.node !== null).map((r) => r.id)).toEqual([]);

    async function spreadRuns(since: number): Promise<Run[]> {
      return (await store.listRuns({ schedule: 'spread', limit: 10_000 })).filter((r) => r.scheduledAt > since);
    }
  }, 90_000);
});
