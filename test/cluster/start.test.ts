import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/** Operators start every node of a new cluster at once (a deploy, a reboot): none may fail for it. */

const NODES = ['start-a', 'start-b', 'start-c'];
/** The nodes' config syncs race for a moment only: a few fresh databases make a loss show up. */
const ROUNDS = 4;
const made: Cluster[] = [];

afterEach(async () => {
  for (const c of made.splice(0)) await c.destroy();
});

describe('nodes starting together on an empty database', () => {
  it('all start, share the config schedules once and fire them', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `s${i}`);
    for (let round = 0; round < ROUNDS; round++) {
      const cluster = await Cluster.create('cf_start');
      made.push(cluster);
      for (const name of NODES) {
        cluster.define(name, { tasks: { nothing: { builtin: 'noop' } }, schedules: names.map((n) => ({ name: n, cron: '* * * * * *', task: 'nothing' })) });
      }
      // All three sync the same new schedules into an empty table at the same moment.
      await Promise.all(NODES.map((n) => cluster.start(n)));
      const store = await cluster.openStore();
      expect((await store.listSchedules()).map((s) => s.name).sort()).toEqual([...names].sort());
      await waitFor('every schedule to fire', async () => new Set((await store.listRuns({ status: ['succeeded'], limit: 1_000 })).map((r) => r.schedule)).size === names.length, 30_000);
      expect(await Promise.all(NODES.map((n) => cluster.stop(n)))).toEqual([0, 0, 0]);
      await cluster.destroy();
      made.pop();
    }
  }, 180_000);
});
