import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { exited } from '../helpers/cli.js';
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

  it('a signal that comes while the node is still starting stops it gracefully once up; a second one at once', async () => {
    for (const signals of [1, 2]) {
      const cluster = await Cluster.create('cf_start_sig');
      made.push(cluster);
      cluster.define('early', { tasks: { nothing: { builtin: 'noop' } }, schedules: [{ name: 's', cron: '* * * * * *', task: 'nothing' }] });
      // The node's migration waits for this lock: it is held in its first step for as long as the test says.
      const holder = new pg.Client({ connectionString: cluster.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['cronfleet.migrate.public']);
        const node = await cluster.start('early', { waitRegistered: false });
        const waiting = async () =>
          Number(
            (await holder.query("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).rows[0].n,
          ) > 0;
        await waitFor('the node to wait for the migration lock', waiting, 30_000);
        for (let i = 1; i <= signals; i++) {
          node.kill('SIGTERM');
          const said = i === 1 ? 'stopping once started' : 'stopping now';
          await waitFor(`the node to say "${said}"`, async () => node.log().includes(said), 10_000);
        }
        if (signals === 1) {
          await holder.query('COMMIT');
          // Started, then stopped by itself, as a first signal after the start stops it.
          expect(await exited(node)).toEqual({ code: 0, signal: null });
          expect(node.log()).toMatch(/"msg":"node started"[\s\S]*"msg":"node stopped"/);
        } else {
          // Ended without starting: exit 143, as SIGTERM's own default would have ended it.
          expect(await exited(node)).toEqual({ code: 143, signal: null });
          expect(node.log()).not.toContain('"msg":"node started"');
        }
      } finally {
        await holder.end();
      }
      await cluster.destroy();
      made.pop();
    }
  }, 120_000);
});
