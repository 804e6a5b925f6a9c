import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { Run } from '../../src/store/types.js';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Invariant 4 in a cluster: the store's clock is the authority. Two nodes run with their clocks
 * shifted by CRONFLEET_CLOCK_OFFSET_MS (+5 s and -5 s) beside one with the right time: both are
 * flagged, and the fires they create and the runs they start still follow the store's time.
 */

const OFFSET_MS = 5_000;
const NODES = { 'skew-zero': 0, 'skew-ahead': OFFSET_MS, 'skew-behind': -OFFSET_MS } as const;
const SCHEDULES = 12;
/** The skew is measured over one round trip to the store; a busy machine blurs it by this much. */
const MEASURE_SLACK_MS = 500;

let cluster: Cluster;
let store: Store;

beforeAll(async () => {
  cluster = await Cluster.create('cf_skew');
  // The task prints the machine's real time (the offset shifts only the node's own clock), so
  // when it ran is measured outside the node under test.
  const tasks = { stamp: { command: ['date', '+%s%3N'] } };
  const schedules = Array.from({ length: SCHEDULES }, (_, i) => ({ name: `k${i}`, cron: '* * * * * *', task: 'stamp' }));
  for (const [name, offset] of Object.entries(NODES)) {
    cluster.define(name, {
      tasks,
      schedules,
      executor: { heartbeat: '500ms', lease: '3s', shutdownGrace: '5s' },
      cluster: { nodeTtl: '3s' },
      ...(offset !== 0 && { env: { CRONFLEET_CLOCK_OFFSET_MS: String(offset) } }),
    });
  }
  store = await cluster.openStore();
});

afterAll(async () => {
  await cluster?.destroy();
});

/** Who created each fire (the store keeps it; the Store interface has no reader for it). */
async function fireCreators(): Promise<Map<string, string>> {
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  try {
    const res = await c.query<{ schedule: string; scheduled_at: string; created_by: string }>('SELECT schedule, scheduled_at, created_by FROM fires');
    return new Map(res.rows.map((r) => [`${r.schedule}@${r.scheduled_at}`, r.created_by]));
  } finally {
    await c.end();
  }
}

describe('nodes whose clocks are off by 5 s', () => {
  it('are flagged in their logs and in `cronfleet nodes`, and fire and start runs on the store\'s time', async () => {
    await cluster.startAll(Object.keys(NODES));

    const runsBy = async (node: string): Promise<Run[]> => store.listRuns({ node, status: ['succeeded'], limit: 100_000 });
    const created = async (node: string) => [...(await fireCreators()).values()].filter((n) => n === node).length;
    for (const node of Object.keys(NODES)) {
      await waitFor(`${node} to run and to create fires`, async () => (await runsBy(node)).length >= 8 && (await created(node)) >= 5, 60_000);
    }

    // The drifting nodes say so, with the size of the drift; the right one does not.
    const warning = /"level":40[^\n]*"skewMs":(-?\d+)[^\n]*"msg":"this node's clock differs from the store's; following the store's clock"/;
    for (const [node, offset] of Object.entries(NODES)) {
      const m = warning.exec(cluster.logs(node));
      if (offset === 0) {
        expect(m, node).toBeNull();
      } else {
        expect(m, `${node} log:\n${cluster.logs(node).slice(0, 2_000)}`).not.toBeNull();
        expect(Math.abs(Number(m![1]) - offset)).toBeLessThanOrEqual(MEASURE_SLACK_MS);
      }
    }
    const listed = cluster.cli('skew-zero', ['nodes', '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    const nodes = JSON.parse(listed.stdout) as Array<{ name: string; state: string; clockSkewMs: number }>;
    expect(nodes.map((n) => n.name).sort()).toEqual(Object.keys(NODES).sort());
    for (const n of nodes) {
      expect(n.state, n.name).toBe('alive');
      expect(Math.abs(n.clockSkewMs - NODES[n.name as keyof typeof NODES]), `${n.name} clockSkewMs ${n.clockSkewMs}`).toBeLessThanOrEqual(MEASURE_SLACK_MS);
    }

    for (const n of Object.keys(NODES)) expect(await cluster.stop(n)).toBe(0);

    const creators = await fireCreators();
    const all = await store.listRuns({ limit: 100_000 });
    const checked = new Map<string, number>();
    for (const r of all.filter((x) => x.status === 'succeeded')) {
      // Whole seconds of the store's time: a node 5 s off would still land on whole seconds, so
      // what proves the time is when the task really ran.
      expect(r.scheduledAt % 1_000).toBe(0);
      const ranAt = Number((await store.getRunOutput(r.id))!.stdout.trim());
      const late = ranAt - r.scheduledAt;
      const creator = creators.get(`${r.schedule}@${r.scheduledAt}`)!;
      expect(late, `run ${r.id} on ${r.node} of a fire made by ${creator} ran ${late} ms after its instant`).toBeGreaterThanOrEqual(-50);
      expect(late, `run ${r.id} on ${r.node} of a fire made by ${creator} ran ${late} ms after its instant`).toBeLessThan(1_000);
      // The node's record of the start follows the store's clock as well, within the error of
      // the skew measurement (half a round trip), as the task's own clock reading above.
      expect(r.startedAt! - r.scheduledAt).toBeGreaterThanOrEqual(-50);
      expect(r.startedAt! - r.scheduledAt).toBeLessThan(1_000);
      checked.set(r.node!, (checked.get(r.node!) ?? 0) + 1);
      checked.set(`by ${creator}`, (checked.get(`by ${creator}`) ?? 0) + 1);
    }
    for (const node of Object.keys(NODES)) {
      expect(checked.get(node) ?? 0, `runs on ${node}`).toBeGreaterThanOrEqual(8);
      expect(checked.get(`by ${node}`) ?? 0, `runs of fires made by ${node}`).toBeGreaterThanOrEqual(3);
    }

    // No instant twice, none missing, whoever's clock was wrong.
    for (let i = 0; i < SCHEDULES; i++) {
      const instants = all.filter((r) => r.schedule === `k${i}` && r.attempt === 1).map((r) => r.scheduledAt).sort((a, b) => a - b);
      expect(new Set(instants).size).toBe(instants.length);
      expect(instants.slice(1).filter((t, j) => t - instants[j]! !== 1_000)).toEqual([]);
    }
  }, 150_000);
});
