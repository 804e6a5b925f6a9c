import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import type { FireOptions } from '../../src/store/types.js';
import { Cluster } from '../helpers/cluster.js';
import { intercept } from '../helpers/intercept.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A node on PostgreSQL writes the runs it takes as it creates their fires only when they end
 * (Run.deferred). These run a real node in this process on a database of its own, and check
 * that no such run is ever lost silently or recorded twice.
 */

let cluster: Cluster | null = null;
let node: RunningNode | null = null;
const opened: Store[] = [];

afterEach(async () => {
  await node?.stop(0).catch(() => undefined);
  node = null;
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await cluster?.destroy();
  cluster = null;
});

const SCHEDULES = 5;

async function open(url: string): Promise<Store> {
  const s = await openStore(url);
  await s.migrate();
  opened.push(s);
  return s;
}

async function start(url: string, store: Store): Promise<RunningNode> {
  const schedules = Array.from({ length: SCHEDULES }, (_, i) => `  - { name: s${i}, cron: "* * * * * *", task: beat, retries: { max: 1, backoff: 1s } }`).join('\n');
  const cfg = parseConfigText(
    `node: { name: dn }
store: ${url}
http: false
executor: { heartbeat: 300ms, lease: 3s, prefetch: 2s, shutdownGrace: 2s }
scheduler: { lead: 2s }
cluster: { nodeTtl: 2s }
tasks:
  beat: { builtin: noop }
schedules:
${schedules}`,
    '/tmp/cronfleet-deferred-test.yaml',
  );
  node = await startNode(cfg, { log: silentLogger(), store });
  return node;
}

/** Per fire from `from` on: the attempt-1 runs stored for it, as `status` strings. */
async function attemptsByFire(url: string, from: number, to: number): Promise<Map<string, string[]>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ key: string; statuses: string[] }>(
      `SELECT f.schedule || '@' || f.scheduled_at AS key,
         coalesce(array_agg(r.status ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '{}') AS statuses
       FROM fires f LEFT JOIN runs r ON r.schedule = f.schedule AND r.scheduled_at = f.scheduled_at AND r.attempt = 1
       WHERE f.scheduled_at >= $1 AND f.scheduled_at < $2 GROUP BY f.schedule, f.scheduled_at`,
      [from, to],
    );
    return new Map(rows.map((r) => [r.key, r.statuses]));
  } finally {
    await c.end();
  }
}

describe('runs written once, at their end (PostgreSQL)', () => {
  it('a node taken for dead holding runs unwritten: a peer records them lost and retried, the node stops them and its results are refused, then it defers again', async () => {
    cluster = await Cluster.create('cf_deferred_swept');
    const n = await start(cluster.url, await open(cluster.url));
    const peer = await open(cluster.url);
    await waitFor('runs deferred', () => n.executor.stats.deferred >= 3 * SCHEDULES, 20_000);
    // Fires prepared 2 s ahead: their runs wait unwritten on the node.
    const storeNow = await peer.clockNow();
    expect(await peer.listRuns({ from: storeNow + 1000, limit: 100 })).toEqual([]);
    // A peer whose clock says the node missed its heartbeats for a minute takes it for dead.
    const lost = await peer.sweepLostRuns(storeNow + 60_000, 2_000);
    const ahead = lost.filter((r) => r.scheduledAt > storeNow);
    expect(ahead.length).toBeGreaterThanOrEqual(SCHEDULES);
    expect(lost.every((r) => r.status === 'lost' && r.node === 'dn' && r.attempt === 1 && (r.reason ?? '').includes('node "dn" is dead'))).toBe(true);
    const retried = await peer.listRuns({ status: ['queued'], limit: 1000 });
    expect(retried.filter((r) => r.attempt === 2).map((r) => `${r.schedule}@${r.scheduledAt}`).sort()).toEqual(lost.map((r) => `${r.schedule}@${r.scheduledAt}`).sort());

    // The node was alive all along: it learns so at its next beat, stops those runs, and what it
    // still sends of them is refused. Later fires are deferred again, under the new epoch.
    const deferredThen = n.executor.stats.deferred;
    await waitFor('new fires deferred after the sweep', () => n.executor.stats.deferred >= deferredThen + 3 * SCHEDULES, 20_000);
    const until = (await peer.clockNow()) - 500;
    await waitFor('the runs of the fires since then recorded', async () => {
      const byFire = await attemptsByFire(cluster!.url, storeNow - 2000, until);
      return [...byFire.values()].every((s) => s.length > 0);
    }, 20_000);
    const byFire = await attemptsByFire(cluster!.url, storeNow - 2000, until);
    expect(byFire.size).toBeGreaterThanOrEqual(SCHEDULES * 3);
    // Each fire has exactly one first attempt: succeeded, or lost by the sweep; never both.
    const wrong = [...byFire].filter(([, s]) => s.length !== 1 || !['succeeded', 'lost'].includes(s[0]!));
    expect(wrong).toEqual([]);
    for (const r of lost) expect(byFire.get(`${r.schedule}@${r.scheduledAt}`) ?? ['(outside the window)']).not.toContain('succeeded');
    expect([...byFire.values()].filter((s) => s[0] === 'succeeded').length).toBeGreaterThan(SCHEDULES);
  }, 60_000);

  it('a fire-creating call whose answer is lost after it was committed: its fires get their runs queued again, and they run', async () => {
    cluster = await Cluster.create('cf_deferred_unanswered');
    const base = await open(cluster.url);
    let dropped: FireOptions | null = null;
    const store = intercept(base, ['createDueFires'], async (_name, call, args) => {
      const result = await (call() as ReturnType<Store['createDueFires']>);
      const opts = args[1] as FireOptions;
      if (dropped === null && opts.claim?.defer && result.fires.some((f) => f.runs.some((r) => r.deferred))) {
        // Committed, then the connection "died" before the answer came.
        dropped = opts;
        throw new Error('Connection terminated unexpectedly');
      }
      return result;
    });
    await start(cluster.url, store);
    await waitFor('a call that deferred runs dropped', () => dropped !== null, 20_000);
    const at = dropped!.now;
    const c = new pg.Client({ connectionString: cluster.url });
    await c.connect();
    try {
      const fires = (await c.query('SELECT schedule, scheduled_at FROM fires WHERE created_by = $1 AND created_at = $2', ['dn', at])).rows;
      expect(fires.length).toBeGreaterThan(0);
      const done = async () =>
        (
          await c.query(
            `SELECT f.schedule, f.scheduled_at, array_agg(r.status ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL) AS statuses
             FROM fires f LEFT JOIN runs r ON r.schedule = f.schedule AND r.scheduled_at = f.scheduled_at
             WHERE f.created_by = $1 AND f.created_at = $2 GROUP BY 1, 2`,
            ['dn', at],
          )
        ).rows as Array<{ statuses: string[] | null }>;
      await waitFor('the fires of the unanswered call run', async () => (await done()).every((f) => f.statuses?.includes('succeeded')), 20_000);
      // Each ran once, as its first attempt: queued again, not lost and retried.
      expect((await done()).map((f) => f.statuses)).toEqual(fires.map(() => ['succeeded']));
    } finally {
      await c.end();
    }
  }, 60_000);
});
