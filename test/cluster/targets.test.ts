import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { Run } from '../../src/store/types.js';
import { Cluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Targets, concurrency policies and drain across real nodes. Every node carries the same
 * schedules (config sync disables the ones a node's config leaves out) with `remoteTask: true`,
 * while each node's tasks say what it offers.
 */

const HEARTBEAT_MS = 500;
/** The nodes' executor.prefetch (the default). */
const PREFETCH_MS = 500;
const executor = { heartbeat: `${HEARTBEAT_MS}ms`, lease: '3s', shutdownGrace: '5s', killGrace: '1s', poll: '2s' };
const NODE_TTL_MS = 2_000;
const cluster_ = { nodeTtl: `${NODE_TTL_MS}ms` };
/** Room for a machine busy with other tests, on top of what the protocol itself allows. */
const SLACK_MS = 1_500;

let cluster: Cluster;
const made: Cluster[] = [];

async function create(prefix: string): Promise<void> {
  cluster = await Cluster.create(prefix);
  made.push(cluster);
}

afterEach(async () => {
  for (const c of made.splice(0)) await c.destroy();
});

async function allRuns(store: Store, schedule: string): Promise<Run[]> {
  return (await store.listRuns({ schedule, limit: 100_000 })).sort((a, b) => a.scheduledAt - b.scheduledAt || a.id - b.id);
}

function byInstant(runs: Run[]): Map<number, Run[]> {
  const out = new Map<number, Run[]>();
  for (const r of runs) out.set(r.scheduledAt, [...(out.get(r.scheduledAt) ?? []), r]);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Longest a scheduler pass here takes from its clock reading to its reading of the live nodes. */
const PLAN_SLACK_MS = 2_000;

describe('target: all', () => {
  it('gives every live node offering the task its own run; a joining node gets runs, a leaving one stops getting them', async () => {
    await create('cf_target_all');
    const schedules = [{ name: 'everyone', cron: '* * * * * *', task: 'beat', target: 'all', remoteTask: true }];
    const beat = { command: ['sh', '-c', 'echo "$CRONFLEET_NODE"'] };
    for (const name of ['all-1', 'all-2', 'all-3']) cluster.define(name, { tasks: { beat }, schedules, executor, cluster: cluster_ });
    // Offers another task only: it must never get a run of `everyone`.
    cluster.define('all-bystander', { tasks: { other: { builtin: 'noop' } }, schedules, executor, cluster: cluster_ });
    const store = await cluster.openStore();

    await cluster.startAll(['all-1', 'all-2', 'all-bystander']);
    const allStarted = Date.now();
    // Each phase waits for fires it made itself, then for the slack a pass may run ahead of a join
    // or a leave, so that those fires are checked exactly however fast or slow the machine is.
    const runBy = (nodes: number, from: number) => async () =>
      [...byInstant(await allRuns(store, 'everyone')).values()].filter((rs) => Math.min(...rs.map((r) => r.createdAt)) > from && rs.filter((r) => r.status === 'succeeded').length === nodes).length;
    await waitFor('two instants run by both nodes', async () => (await runBy(2, allStarted)()) >= 2, 30_000);
    await sleep(PLAN_SLACK_MS);

    const joinedBefore = Date.now();
    await cluster.start('all-3');
    const joinedAt = Date.now();
    await waitFor('two instants run by all three nodes', async () => (await runBy(3, joinedAt)()) >= 2, 30_000);
    await sleep(PLAN_SLACK_MS);

    const leftBefore = Date.now();
    expect(await cluster.stop('all-2')).toBe(0);
    const leftAt = Date.now();
    await waitFor('fires after all-2 left', async () => (await allRuns(store, 'everyone')).filter((r) => r.createdAt > leftAt && r.status === 'succeeded').length >= 6, 30_000);
    for (const n of ['all-1', 'all-3', 'all-bystander']) expect(await cluster.stop(n)).toBe(0);

    const runs = await allRuns(store, 'everyone');
    // Each run is meant for one node and, when run, was run by that node and recorded on its own.
    expect(runs.filter((r) => r.targetNode === null || (r.node !== null && r.node !== r.targetNode)).map((r) => r.id)).toEqual([]);
    expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
    expect(runs.some((r) => r.targetNode === 'all-bystander')).toBe(false);
    for (const r of runs.filter((x) => x.status === 'succeeded')) {
      expect((await store.getRunOutput(r.id))!.stdout).toBe(`${r.targetNode}\n`);
    }

    const exact = new Map<string, number>();
    for (const [at, rs] of byInstant(runs)) {
      const targets = rs.map((r) => r.targetNode).sort();
      // Never two runs of one fire for the same node.
      expect(new Set(targets).size, `fire ${new Date(at).toISOString()}`).toBe(targets.length);
      const created = Math.min(...rs.map((r) => r.createdAt));
      const expected = ['all-1'];
      if (created < leftBefore) expected.push('all-2');
      if (created > joinedAt) expected.push('all-3');
      // Fires made while a node joined or left may or may not include it; all others are exact.
      // A fire's createdAt is the clock reading its scheduler pass began with; the live nodes are
      // read later in that pass, so a pass begun up to PLAN_SLACK_MS before a join or a leave
      // may already see it.
      const near = (from: number, to: number) => created > from - PLAN_SLACK_MS && created < to;
      if (created < allStarted || near(joinedBefore, joinedAt) || near(leftBefore, leftAt)) continue;
      expect(targets, `fire ${new Date(at).toISOString()} made ${new Date(created).toISOString()}`).toEqual(expected.sort());
      exact.set(expected.join(','), (exact.get(expected.join(',')) ?? 0) + 1);
    }
    // Every phase (two nodes, three, two again) had fires checked exactly.
    expect([...exact.keys()].sort()).toEqual(['all-1,all-2', 'all-1,all-2,all-3', 'all-1,all-3']);
    // Whatever was made for all-2 while it stopped was not left hanging.
    expect(runs.filter((r) => r.status === 'queued' || r.status === 'running').filter((r) => r.createdAt < leftAt)).toEqual([]);
  }, 120_000);

  it('stops targeting a node killed with SIGKILL once its heartbeat is older than the node TTL', async () => {
    await create('cf_target_kill');
    const schedules = [{ name: 'everyone', cron: '* * * * * *', task: 'nothing', target: 'all', remoteTask: true }];
    for (const name of ['kill-1', 'kill-2']) cluster.define(name, { tasks: { nothing: { builtin: 'noop' } }, schedules, executor, cluster: cluster_ });
    const store = await cluster.openStore();
    await cluster.startAll(['kill-1', 'kill-2']);
    await waitFor('kill-2 to run a fire', async () => (await allRuns(store, 'everyone')).some((r) => r.node === 'kill-2' && r.status === 'succeeded'), 30_000);

    await cluster.kill9('kill-2');
    const killedAt = Date.now();
    const deadBy = killedAt + NODE_TTL_MS + HEARTBEAT_MS + SLACK_MS;
    await waitFor('fires after kill-2 is dead', async () => (await allRuns(store, 'everyone')).filter((r) => r.createdAt > deadBy).length >= 4, 30_000);
    // Queued runs for the dead node are swept on the live node's heartbeats.
    await waitFor('runs for kill-2 to be settled', async () => !(await allRuns(store, 'everyone')).some((r) => r.targetNode === 'kill-2' && r.status === 'queued'), 10_000);
    expect(await cluster.stop('kill-1')).toBe(0);

    const runs = await allRuns(store, 'everyone');
    expect(runs.filter((r) => r.targetNode === 'kill-2' && r.createdAt > deadBy).map((r) => r.id)).toEqual([]);
    const orphaned = runs.filter((r) => r.targetNode === 'kill-2' && r.createdAt > killedAt);
    // The fires made between the kill and its discovery were meant for it and end `lost`, with why.
    for (const r of orphaned) {
      expect(r.status).toBe('lost');
      expect(r.reason).toMatch(/target node "kill-2" is dead/);
    }
    expect(runs.filter((r) => r.targetNode === 'kill-1' && r.createdAt > killedAt && r.status === 'succeeded').length).toBeGreaterThanOrEqual(4);
  }, 90_000);
});

describe('target: tag, and tasks nobody offers', () => {
  it('runs a tagged schedule only on tagged nodes, and records fires no live node can run as skipped with the reason', async () => {
    await create('cf_target_tag');
    const schedules = [
      { name: 'on-gpu', cron: '* * * * * *', task: 'work', target: 'tag:gpu', remoteTask: true },
      { name: 'anywhere', cron: '* * * * * *', task: 'work', remoteTask: true },
      { name: 'orphan', cron: '* * * * * *', task: 'ghost', remoteTask: true },
    ];
    const work = { builtin: 'noop' };
    cluster.define('tag-gpu', { tags: ['gpu'], tasks: { work }, schedules, executor, cluster: cluster_ });
    cluster.define('tag-plain', { tags: ['cpu'], tasks: { work }, schedules, executor, cluster: cluster_ });
    const store = await cluster.openStore();
    await cluster.startAll(['tag-gpu', 'tag-plain']);

    await waitFor('both nodes to run `anywhere`', async () => new Set((await allRuns(store, 'anywhere')).filter((r) => r.status === 'succeeded').map((r) => r.node)).size === 2, 30_000);
    await waitFor('eight on-gpu runs', async () => (await allRuns(store, 'on-gpu')).filter((r) => r.status === 'succeeded').length >= 8, 30_000);

    // Without its only tagged node, the tagged schedule has nowhere to run: skipped, not silent.
    const gpuStoppedBefore = Date.now();
    expect(await cluster.stop('tag-gpu')).toBe(0);
    const gpuStoppedAt = Date.now();
    await waitFor('three on-gpu fires skipped', async () => (await allRuns(store, 'on-gpu')).filter((r) => r.status === 'skipped' && r.createdAt > gpuStoppedAt).length >= 3, 30_000);
    expect(await cluster.stop('tag-plain')).toBe(0);

    const gpu = await allRuns(store, 'on-gpu');
    const ran = gpu.filter((r) => r.node !== null);
    expect(new Set(ran.map((r) => r.node))).toEqual(new Set(['tag-gpu']));
    expect(gpu.every((r) => r.targetTag === 'gpu')).toBe(true);
    const skipped = gpu.filter((r) => r.status === 'skipped');
    expect(skipped.length).toBeGreaterThanOrEqual(3);
    for (const r of skipped) {
      expect(r.reason).toBe('no live node with tag "gpu" offers task "work"');
      expect(r.createdAt).toBeGreaterThan(gpuStoppedBefore);
    }
    // One run per instant throughout, run or skipped.
    const instants = [...byInstant(gpu).keys()];
    expect([...byInstant(gpu).values()].every((rs) => rs.length === 1)).toBe(true);
    expect(instants.slice(1).filter((t, i) => t - instants[i]! !== 1_000)).toEqual([]);

    const orphan = await allRuns(store, 'orphan');
    expect(orphan.length).toBeGreaterThanOrEqual(8);
    expect(orphan.filter((r) => r.status !== 'skipped' || r.reason !== 'no live node offers task "ghost"' || r.attempt !== 1)).toEqual([]);
    expect([...byInstant(orphan).values()].every((rs) => rs.length === 1)).toBe(true);
    // And it says so in the log, as a warning.
    const logs = cluster.logs('tag-gpu') + cluster.logs('tag-plain');
    expect(logs).toMatch(/"level":40[^\n]*"schedule":"orphan"[^\n]*"reason":"no live node offers task \\"ghost\\""[^\n]*"msg":"fire skipped"/);
  }, 120_000);
});

describe('concurrency policies across nodes', () => {
  it('forbid: a long task every second never runs twice at once, whichever node holds it', async () => {
    await create('cf_forbid');
    const schedules = [{ name: 'exclusive', cron: '* * * * * *', task: 'long', concurrency: 'forbid', remoteTask: true }];
    const long = { command: ['sleep', '2.2'] };
    for (const name of ['forbid-1', 'forbid-2']) cluster.define(name, { tasks: { long }, schedules, executor, cluster: cluster_ });
    const store = await cluster.openStore();
    await cluster.startAll(['forbid-1', 'forbid-2']);

    // Never two running at once, watched live as well as checked afterwards.
    let most = 0;
    await waitFor(
      'six finished runs',
      async () => {
        most = Math.max(most, (await store.listRuns({ schedule: 'exclusive', status: ['running'], limit: 10 })).length);
        return (await allRuns(store, 'exclusive')).filter((r) => r.status === 'succeeded').length >= 6;
      },
      60_000,
      100,
    );
    for (const n of ['forbid-1', 'forbid-2']) expect(await cluster.stop(n)).toBe(0);
    expect(most).toBe(1);

    const runs = await allRuns(store, 'exclusive');
    const ran = runs.filter((r) => r.startedAt !== null).sort((a, b) => a.startedAt! - b.startedAt!);
    for (let i = 1; i < ran.length; i++) {
      expect(ran[i]!.startedAt!, `run ${ran[i]!.id} started while run ${ran[i - 1]!.id} ran`).toBeGreaterThanOrEqual(ran[i - 1]!.finishedAt!);
    }
    // The instants in between were recorded skipped, each naming the run that held it.
    const skipped = runs.filter((r) => r.status === 'skipped');
    expect(skipped.length).toBeGreaterThanOrEqual(ran.length);
    for (const r of skipped) expect(r.reason).toMatch(/^concurrency forbid: run \d+ is still (queued|running)$/);
    expect([...byInstant(runs).values()].every((rs) => rs.length === 1)).toBe(true);
  }, 120_000);

  it('replace: each fire stops the run in progress, also when the other node holds it', async () => {
    await create('cf_replace');
    const schedules = [{ name: 'latest', cron: '* * * * * *', task: 'long', concurrency: 'replace', remoteTask: true }];
    const long = { command: ['sleep', '30'] };
    // One run at a time per node: while one node holds the run being replaced, the new one can
    // only go to the other node.
    const exec = { ...executor, concurrency: 1 };
    for (const name of ['replace-1', 'replace-2']) cluster.define(name, { tasks: { long }, schedules, executor: exec, cluster: cluster_ });
    const store = await cluster.openStore();
    await cluster.startAll(['replace-1', 'replace-2']);

    await waitFor('six replaced runs', async () => (await allRuns(store, 'latest')).filter((r) => r.status === 'cancelled' && r.node !== null).length >= 6, 60_000);
    for (const n of ['replace-1', 'replace-2']) expect(await cluster.stop(n)).toBe(0);

    const runs = await allRuns(store, 'latest');
    const ran = runs.filter((r) => r.node !== null);
    let crossNode = 0;
    for (const r of ran.filter((x) => x.status === 'cancelled' && !/shutting down/.test(x.reason ?? ''))) {
      // The reason names the fire that replaced it, and that fire's run started at once.
      const m = /^replaced by the fire at (\S+) \(concurrency replace\)$/.exec(r.reason ?? '');
      expect(m, `run ${r.id}: ${r.reason}`).not.toBeNull();
      const by = runs.find((x) => x.scheduledAt === Date.parse(m![1]!));
      expect(by, `the run that replaced ${r.id}`).toBeDefined();
      expect(by!.scheduledAt).toBeGreaterThan(r.scheduledAt);
      // Stopped at its owner's next heartbeat (plus TERM taking effect).
      expect(r.finishedAt! - by!.createdAt).toBeLessThanOrEqual(HEARTBEAT_MS + SLACK_MS);
      if (by!.node !== null && by!.node !== r.node) crossNode++;
    }
    expect(crossNode).toBeGreaterThanOrEqual(3);
    // Nothing ran to completion, and the graceful stop left nothing running.
    expect(runs.filter((r) => r.status === 'succeeded' || r.status === 'running' || r.status === 'failed')).toEqual([]);
  }, 120_000);
});

describe('drain', () => {
  it('`cronfleet drain NODE` stops its claims; the other node takes every run, and undrain lets it claim again', async () => {
    await create('cf_drain');
    const schedules = Array.from({ length: 6 }, (_, i) => ({ name: `d${i}`, cron: '* * * * * *', task: 'short', remoteTask: true }));
    // Six runs an instant and room for four a node: both nodes run some while both claim (an idle
    // node that wakes first would otherwise take a whole instant's runs), and a lone node still
    // keeps up.
    const short = { command: ['sleep', '0.3'] };
    for (const name of ['drain-1', 'drain-2']) cluster.define(name, { tasks: { short }, schedules, executor: { ...executor, concurrency: 4 }, cluster: cluster_ });
    const store = await cluster.openStore();
    await cluster.startAll(['drain-1', 'drain-2']);
    const succeeded = async () => (await store.listRuns({ status: ['succeeded'], limit: 100_000 }));
    await waitFor('both nodes to run fires', async () => new Set((await succeeded()).map((r) => r.node)).size === 2, 30_000);

    const drained = cluster.cli('drain-2', ['drain', 'drain-1', '--json']);
    expect(drained.status, drained.stderr).toBe(0);
    expect(JSON.parse(drained.stdout)).toMatchObject({ name: 'drain-1', state: 'draining', draining: true });
    const drainedAt = Date.now();
    // The node learns of it at its next heartbeat.
    await waitFor('drain-1 to say it drains', () => /node draining: no new runs will be claimed/.test(cluster.logs('drain-1')), 10_000);
    const effective = Date.now();
    await waitFor('eight seconds of fires after the drain', async () => (await succeeded()).filter((r) => r.scheduledAt > effective + 8_000).length >= 6, 30_000);
    const listed = JSON.parse(cluster.cli('drain-2', ['nodes', '--json']).stdout) as Array<{ name: string; state: string }>;
    expect(listed.map((n) => [n.name, n.state])).toEqual([['drain-1', 'draining'], ['drain-2', 'alive']]);

    const undrained = cluster.cli('drain-2', ['undrain', 'drain-1']);
    expect(undrained.status, undrained.stderr).toBe(0);
    await waitFor('drain-1 to claim again', async () => (await succeeded()).some((r) => r.node === 'drain-1' && r.startedAt! > Date.now() - 1_000 && r.startedAt! > effective + 8_000), 30_000);
    for (const n of ['drain-1', 'drain-2']) expect(await cluster.stop(n)).toBe(0);

    const runs = await store.listRuns({ limit: 100_000 });
    // Between the drain taking effect and the undrain, every run went to drain-2. Runs a node
    // claimed just before (executor.prefetch ahead of their instant) are still its own to run.
    const during = runs.filter((r) => r.startedAt !== null && r.notBefore > effective + PREFETCH_MS && r.notBefore < effective + 8_000);
    expect(during.length).toBeGreaterThanOrEqual(6 * 6);
    expect(during.filter((r) => r.node !== 'drain-2').map((r) => `${r.id} ${r.node}`)).toEqual([]);
    expect(effective - drainedAt).toBeLessThanOrEqual(HEARTBEAT_MS + SLACK_MS);
    // No instant of any schedule was dropped while one node stood aside.
    for (const s of schedules) {
      const instants = runs.filter((r) => r.schedule === s.name).map((r) => r.scheduledAt).sort((a, b) => a - b);
      expect(instants.slice(1).filter((t, i) => t - instants[i]! !== 1_000), s.name).toEqual([]);
      expect(runs.filter((r) => r.schedule === s.name && r.status !== 'succeeded' && r.status !== 'queued')).toEqual([]);
    }
  }, 120_000);
});
