import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/**
 * With nothing tuned (lease 10 s, heartbeat 2 s, node TTL 6 s), a run held by a node killed with
 * `kill -9` is retried elsewhere within the lease: the node is dead three beats after its last
 * one, and a live node's next sweep marks its runs lost, well before their leases end.
 */

const DEFAULT_LEASE_MS = 10_000;

let cluster: Cluster | null = null;

afterAll(async () => {
  await cluster?.destroy();
});

describe('default lease, heartbeat and node TTL', () => {
  it('retries a killed node\'s run on another node within the lease', async () => {
    cluster = await Cluster.create('cf_defaults');
    const tasks = { nap: { command: ['sleep', '20'] } };
    // Fired by hand only: the cron's instant is a year away.
    const schedules = [{ name: 'nap', cron: '0 0 1 1 *', task: 'nap', retries: { max: 1, backoff: '100ms' } }];
    for (const name of ['def-1', 'def-2']) cluster.define(name, { tasks, schedules, executor: { killGrace: '1s', shutdownGrace: '1s' } });
    const store = await cluster.openStore();
    await cluster.startAll(['def-1', 'def-2']);

    await store.triggerSchedule('nap', { now: await store.clockNow(), nodeTtlMs: 6_000, node: 'test' });
    const first = await waitFor('the run to start', async () => (await store.listRuns({ schedule: 'nap', limit: 10 })).find((r) => r.status === 'running' && r.attempt === 1), 30_000);
    const victim = first.node!;
    await cluster.kill9(victim);
    const killedAt = await store.clockNow();

    const retry = await waitFor('the retry to start', async () => (await store.listRuns({ schedule: 'nap', limit: 10 })).find((r) => r.attempt === 2 && r.startedAt !== null), 30_000);
    const lost = await store.getRun(first.id);
    expect(lost).toMatchObject({ status: 'lost', node: victim });
    // Swept because the node was dead, not because the lease ran out.
    expect(lost!.reason).toMatch(new RegExp(`node "${victim}" is dead: no heartbeat since .* \\(node TTL 6000 ms\\)`));
    expect(retry.node).not.toBe(victim);
    expect(retry.startedAt! - killedAt).toBeLessThan(DEFAULT_LEASE_MS);
  }, 60_000);
});
