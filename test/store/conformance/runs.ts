import { describe, expect, test } from 'vitest';
import { ConfigError, ConflictError, NotFoundError } from '../../../src/errors.js';
import type { Store } from '../../../src/store/store.js';
import type { ScheduleSpec } from '../../../src/store/types.js';
import type { SuiteContext } from '../conformance.js';
import { MIN, T0, TTL, fireOpts, nodeInfo, plan, spec } from '../fixtures.js';

const NO_OUTPUT = { stdout: '', stderr: '' };

/** A schedule with one queued run at T0 + MIN (not before `notBefore`); returns the run id. */
async function queuedRun(store: Store, over: Partial<ScheduleSpec> = {}, notBefore = T0 + MIN): Promise<number> {
  await store.syncConfigSchedules([spec('a', over)], T0);
  await store.registerNode(nodeInfo('n1', ['work'], ['eu']), T0 + MIN);
  const r = await store.createDueFires(
    [{ schedule: 'a', fromCursor: T0, toCursor: T0 + MIN, fires: [{ scheduledAt: T0 + MIN, notBefore }] }],
    fireOpts(T0 + MIN),
  );
  return r.fires[0]!.runs[0]!.id;
}

function claim(store: Store, node: string, now: number, over: { tasks?: string[]; tags?: string[]; limit?: number } = {}) {
  return store.claimRuns({ node, tasks: over.tasks ?? ['work'], tags: over.tags ?? [], limit: over.limit ?? 10, leaseMs: MIN, now });
}

export function runsSuite(ctx: SuiteContext): void {
  describe('claimRuns', () => {
    test('claims due runs of offered tasks, oldest first, up to the limit, with a lease', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('b', { task: 'other' })], T0);
      await ctx.store.registerNode(nodeInfo('n1', ['work', 'other']), T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 3, T0 + 1, T0 + 2]), plan('b', T0, [T0 + 1])], fireOpts(T0));
      expect(await claim(ctx.store, 'n1', T0, { tasks: ['work'] })).toEqual([]);
      const got = await claim(ctx.store, 'n1', T0 + 10, { tasks: ['work'], limit: 2 });
      expect(got.map((r) => r.scheduledAt)).toEqual([T0 + 1, T0 + 2]);
      expect(got[0]).toMatchObject({ status: 'running', node: 'n1', startedAt: T0 + 10, leaseUntil: T0 + 10 + MIN });
      expect((await claim(ctx.store, 'n1', T0 + 10, { tasks: ['work'] })).map((r) => r.scheduledAt)).toEqual([T0 + 3]);
      expect(await claim(ctx.store, 'n1', T0 + 10, { tasks: [] })).toEqual([]);
    });

    test('targeted runs go only to their node or to nodes with their tag', async () => {
      await ctx.store.syncConfigSchedules([spec('all', { target: { kind: 'all' } }), spec('tag', { target: { kind: 'tag', tag: 'eu' } })], T0);
      await ctx.store.registerNode(nodeInfo('n1', ['work'], ['eu']), T0);
      await ctx.store.registerNode(nodeInfo('n2', ['work'], ['us']), T0);
      await ctx.store.createDueFires([plan('all', T0, [T0 + 1]), plan('tag', T0, [T0 + 1])], fireOpts(T0));
      const n2 = await claim(ctx.store, 'n2', T0 + 1, { tags: ['us'] });
      expect(n2.map((r) => [r.schedule, r.targetNode])).toEqual([['all', 'n2']]);
      const n1 = await claim(ctx.store, 'n1', T0 + 1, { tags: ['eu'] });
      expect(n1.map((r) => r.schedule).sort()).toEqual(['all', 'tag']);
    });

    test('dueBy claims runs shortly before their instant', async () => {
      await queuedRun(ctx.store, {}, T0 + 5 * MIN);
      expect(await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, now: T0 + 5 * MIN - 500, dueBy: T0 + 5 * MIN - 1 })).toEqual([]);
      const got = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, now: T0 + 5 * MIN - 500, dueBy: T0 + 5 * MIN });
      expect(got.map((r) => [r.notBefore, r.status, r.startedAt])).toEqual([[T0 + 5 * MIN, 'running', T0 + 5 * MIN - 500]]);
    });

    test('createdBy leaves runs created after it for other claimers', async () => {
      await ctx.store.syncConfigSchedules([spec('early'), spec('late')], T0);
      await ctx.store.registerNode(nodeInfo('n1', ['work']), T0);
      await ctx.store.createDueFires([plan('early', T0, [T0 + 1])], fireOpts(T0));
      await ctx.store.createDueFires([plan('late', T0, [T0 + 1])], fireOpts(T0 + 500));
      const older = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, now: T0 + 600, createdBy: T0 + 100 });
      expect(older.map((r) => r.schedule)).toEqual(['early']);
      const rest = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, now: T0 + 600 });
      expect(rest.map((r) => r.schedule)).toEqual(['late']);
    });

    test('nextQueuedAt gives the earliest notBefore the node could claim', async () => {
      await queuedRun(ctx.store, { target: { kind: 'tag', tag: 'eu' } }, T0 + 5 * MIN);
      expect(await ctx.store.nextQueuedAt('n1', ['work'], ['eu'])).toBe(T0 + 5 * MIN);
      expect(await ctx.store.nextQueuedAt('n1', ['work'], [])).toBeNull();
      expect(await ctx.store.nextQueuedAt('n1', ['else'], ['eu'])).toBeNull();
    });
  });

  describe('finishRun', () => {
    test('records the end and the output of a run the node owns', async () => {
      const id = await queuedRun(ctx.store);
      await claim(ctx.store, 'n1', T0 + MIN);
      const r = await ctx.store.finishRun({
        runId: id,
        node: 'n1',
        status: 'succeeded',
        exitCode: 0,
        signal: null,
        reason: null,
        output: { stdout: 'out\n', stderr: 'err\n' },
        now: T0 + MIN + 500,
      });
      expect(r).toEqual({ applied: true, retry: null });
      expect(await ctx.store.getRun(id)).toMatchObject({ status: 'succeeded', exitCode: 0, finishedAt: T0 + MIN + 500, leaseUntil: null });
      expect(await ctx.store.getRunOutput(id)).toEqual({ stdout: 'out\n', stderr: 'err\n' });
      expect(await ctx.store.getRunOutput(999_999)).toBeNull();
    });

    test('keeps output holding NUL bytes and odd text, NUL as U+FFFD, without failing the batch it came in', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.registerNode(nodeInfo('n1', ['work']), T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2])], fireOpts(T0));
      const [bad, good] = (await claim(ctx.store, 'n1', T0 + MIN)).map((r) => r.id);
      await ctx.store.updateRunOutput(bad!, { stdout: 'live\0', stderr: '' });
      expect(await ctx.store.getRunOutput(bad!)).toEqual({ stdout: 'live\uFFFD', stderr: '' });
      const odd = 'quote " backslash \\ tab \t unicode é ✓ \u2028 {"json": [1]}';
      const results = await ctx.store.finishRuns([
        { runId: bad!, node: 'n1', status: 'succeeded', exitCode: 0, signal: null, reason: null, output: { stdout: 'a\0b', stderr: '\0' }, now: T0 + MIN + 5 },
        { runId: good!, node: 'n1', status: 'failed', exitCode: 3, signal: null, reason: 'exit 3', output: { stdout: odd, stderr: '' }, now: T0 + MIN + 6 },
      ]);
      expect(results.map((r) => r.applied)).toEqual([true, true]);
      expect(await ctx.store.getRunOutput(bad!)).toEqual({ stdout: 'a\uFFFDb', stderr: '\uFFFD' });
      expect(await ctx.store.getRunOutput(good!)).toEqual({ stdout: odd, stderr: '' });
      expect(await ctx.store.getRun(good!)).toMatchObject({ status: 'failed', exitCode: 3, reason: 'exit 3', finishedAt: T0 + MIN + 6 });
    });

    test('takes the instant the task really started, when given, over the claim instant', async () => {
      const id = await queuedRun(ctx.store);
      await claim(ctx.store, 'n1', T0 + MIN);
      expect((await ctx.store.getRun(id))!.startedAt).toBe(T0 + MIN);
      await ctx.store.finishRun({ runId: id, node: 'n1', startedAt: T0 + MIN + 7, status: 'succeeded', exitCode: 0, signal: null, reason: null, output: NO_OUTPUT, now: T0 + MIN + 90 });
      expect(await ctx.store.getRun(id)).toMatchObject({ startedAt: T0 + MIN + 7, finishedAt: T0 + MIN + 90 });
    });

    test('records a run no fire made, owned by its node, finished like any other', async () => {
      const run = await ctx.store.startExternalRun({ schedule: 'gearman:rotate', task: 'rotate', node: 'w1', scheduledAt: T0, timeoutMs: 5000, leaseMs: MIN, now: T0 + 3 });
      expect(run).toMatchObject({ schedule: 'gearman:rotate', task: 'rotate', node: 'w1', status: 'running', attempt: 1, startedAt: T0 + 3, leaseUntil: T0 + 3 + MIN, timeoutMs: 5000 });
      // Nobody else may claim it, and it ends through finishRun.
      expect(await claim(ctx.store, 'n1', T0 + 10, { tasks: ['rotate'] })).toEqual([]);
      await ctx.store.finishRun({ runId: run.id, node: 'w1', status: 'failed', exitCode: 2, signal: null, reason: 'exit status 2', output: { stdout: '', stderr: 'boom\n' }, now: T0 + 50 });
      expect((await ctx.store.listRuns({ schedule: 'gearman:rotate', limit: 10 })).map((r) => [r.id, r.status, r.exitCode])).toEqual([[run.id, 'failed', 2]]);
    });

    test('finishRuns times each retry from its own run\'s end', async () => {
      await ctx.store.syncConfigSchedules([spec('a', { retries: { max: 1, backoffMs: 100 } })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2])], fireOpts(T0));
      const [r1, r2] = await claim(ctx.store, 'n1', T0 + 10);
      const failed = (id: number, now: number) => ({ runId: id, node: 'n1', status: 'failed' as const, exitCode: 1, signal: null, reason: null, output: NO_OUTPUT, now });
      const results = await ctx.store.finishRuns([failed(r1!.id, T0 + 20), failed(r2!.id, T0 + 70)]);
      expect(results.map((r) => [r.retry?.scheduledAt, r.retry?.notBefore])).toEqual([
        [T0 + 1, T0 + 120],
        [T0 + 2, T0 + 170],
      ]);
    });

    test('finishRuns records several ends in one call, each by finishRun\'s rules', async () => {
      await ctx.store.syncConfigSchedules([spec('a', { retries: { max: 1, backoffMs: 100 } })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2, T0 + 3])], fireOpts(T0));
      const [r1, r2, r3] = await claim(ctx.store, 'n1', T0 + 10);
      const end = (id: number, status: 'succeeded' | 'failed', node = 'n1') => ({ runId: id, node, status, exitCode: status === 'failed' ? 1 : 0, signal: null, reason: null, output: NO_OUTPUT, now: T0 + 20 });
      const results = await ctx.store.finishRuns([end(r1!.id, 'succeeded'), end(r2!.id, 'failed'), end(r3!.id, 'succeeded', 'n2')]);
      expect(results.map((r) => [r.applied, r.retry?.attempt ?? null])).toEqual([[true, null], [true, 2], [false, null]]);
      expect((await ctx.store.getRun(r3!.id))!.status).toBe('running');
      expect(await ctx.store.finishRuns([])).toEqual([]);
    });

    test('is refused for another node or a run that is not running, changing nothing', async () => {
      const id = await queuedRun(ctx.store);
      const req = { runId: id, node: 'n1', status: 'failed' as const, exitCode: 1, signal: null, reason: null, output: NO_OUTPUT, now: T0 + MIN };
      expect(await ctx.store.finishRun(req)).toEqual({ applied: false, retry: null });
      await claim(ctx.store, 'n1', T0 + MIN);
      expect(await ctx.store.finishRun({ ...req, node: 'n2' })).toEqual({ applied: false, retry: null });
      expect((await ctx.store.getRun(id))?.status).toBe('running');
      expect((await ctx.store.finishRun(req)).applied).toBe(true);
      expect(await ctx.store.finishRun({ ...req, status: 'succeeded' })).toEqual({ applied: false, retry: null });
      expect((await ctx.store.getRun(id))?.status).toBe('failed');
    });

    test('failed and timed_out runs are retried with doubling backoff up to retries.max', async () => {
      const id = await queuedRun(ctx.store, { retries: { max: 2, backoffMs: 1000 }, timeoutMs: 9000 });
      const end = (runId: number, status: 'failed' | 'timed_out', now: number) =>
        ctx.store.finishRun({ runId, node: 'n1', status, exitCode: status === 'failed' ? 3 : null, signal: null, reason: null, output: NO_OUTPUT, now });
      await claim(ctx.store, 'n1', T0 + MIN);
      const first = await end(id, 'failed', T0 + MIN + 100);
      expect(first.retry).toMatchObject({ attempt: 2, status: 'queued', scheduledAt: T0 + MIN, notBefore: T0 + MIN + 100 + 1000, timeoutMs: 9000 });
      const [second] = await claim(ctx.store, 'n1', T0 + MIN + 1100);
      expect(second?.id).toBe(first.retry!.id);
      const again = await end(second!.id, 'timed_out', T0 + 2 * MIN);
      expect(again.retry).toMatchObject({ attempt: 3, notBefore: T0 + 2 * MIN + 2000 });
      await claim(ctx.store, 'n1', T0 + 3 * MIN);
      expect((await end(again.retry!.id, 'failed', T0 + 4 * MIN)).retry).toBeNull();
      expect((await ctx.store.listRuns({ schedule: 'a', limit: 10 })).map((r) => [r.attempt, r.status])).toEqual([
        [3, 'failed'],
        [2, 'timed_out'],
        [1, 'failed'],
      ]);
    });

    test('succeeded and cancelled runs are not retried', async () => {
      const id = await queuedRun(ctx.store, { retries: { max: 5, backoffMs: 10 } });
      await claim(ctx.store, 'n1', T0 + MIN);
      const r = await ctx.store.finishRun({ runId: id, node: 'n1', status: 'cancelled', exitCode: null, signal: 'SIGTERM', reason: 'asked', output: NO_OUTPUT, now: T0 + MIN });
      expect(r).toEqual({ applied: true, retry: null });
      expect(await ctx.store.getRun(id)).toMatchObject({ status: 'cancelled', signal: 'SIGTERM', reason: 'asked' });
    });
  });

  describe('run output, log path, cancel and listing', () => {
    test('output tails and the log path can be updated while the run goes', async () => {
      const id = await queuedRun(ctx.store);
      await claim(ctx.store, 'n1', T0 + MIN);
      await ctx.store.setRunLogPath(id, '/var/lib/cronfleet/logs/1.log');
      await ctx.store.updateRunOutput(id, { stdout: 'partial', stderr: '' });
      expect(await ctx.store.getRunOutput(id)).toEqual({ stdout: 'partial', stderr: '' });
      expect((await ctx.store.getRun(id))?.logPath).toBe('/var/lib/cronfleet/logs/1.log');
      await expect(ctx.store.setRunLogPath(424242, '/x')).rejects.toThrow(NotFoundError);
      await expect(ctx.store.updateRunOutput(424242, NO_OUTPUT)).rejects.toThrow(NotFoundError);
    });

    test('cancelRun cancels queued runs at once and flags running ones for their owner', async () => {
      const id = await queuedRun(ctx.store);
      expect(await ctx.store.cancelRun(id, 'operator', T0 + 2)).toMatchObject({ status: 'cancelled', reason: 'operator', finishedAt: T0 + 2 });
      await expect(ctx.store.cancelRun(id, 'again', T0 + 3)).rejects.toThrow(ConflictError);
      await expect(ctx.store.cancelRun(777_777, 'x', T0)).rejects.toThrow(NotFoundError);
      const t = await ctx.store.triggerSchedule('a', fireOpts(T0 + 5));
      await claim(ctx.store, 'n1', T0 + 5);
      expect(await ctx.store.cancelRun(t.runs[0]!.id, 'stop it', T0 + 6)).toMatchObject({ status: 'running', cancelRequested: true });
    });

    test('listRuns filters and pages newest first', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('b', { task: 'other' })], T0);
      await ctx.store.registerNode(nodeInfo('n1', ['work', 'other']), T0);
      const instants = Array.from({ length: 5 }, (_, i) => T0 + (i + 1) * MIN);
      await ctx.store.createDueFires([plan('a', T0, instants), plan('b', T0, instants)], fireOpts(T0 + 6 * MIN));
      await claim(ctx.store, 'n1', T0 + 6 * MIN, { tasks: ['other'], limit: 2 });
      const all = await ctx.store.listRuns({ limit: 100 });
      expect(all).toHaveLength(10);
      expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort((x, y) => y - x));
      expect((await ctx.store.listRuns({ schedule: 'b', limit: 100 })).every((r) => r.schedule === 'b')).toBe(true);
      expect(await ctx.store.listRuns({ task: 'other', status: ['running'], limit: 100 })).toHaveLength(2);
      expect(await ctx.store.listRuns({ node: 'n1', limit: 100 })).toHaveLength(2);
      expect(await ctx.store.listRuns({ status: ['queued', 'running'], limit: 100 })).toHaveLength(10);
      const window = await ctx.store.listRuns({ schedule: 'a', from: T0 + 2 * MIN, to: T0 + 4 * MIN, limit: 100 });
      expect(window.map((r) => r.scheduledAt)).toEqual([T0 + 3 * MIN, T0 + 2 * MIN]);
      const page1 = await ctx.store.listRuns({ limit: 4 });
      const page2 = await ctx.store.listRuns({ limit: 4, before: page1[3]!.id });
      expect([...page1, ...page2].map((r) => r.id)).toEqual(all.slice(0, 8).map((r) => r.id));
      await expect(ctx.store.listRuns({ limit: 0 })).rejects.toThrow(ConfigError);
      await expect(ctx.store.listRuns({ limit: 5, status: ['bogus' as never] })).rejects.toThrow(/not a run status/);
    });
  });

  describe('lost runs', () => {
    test('sweepLostRuns loses runs whose lease expired and retries them', async () => {
      const id = await queuedRun(ctx.store, { retries: { max: 1, backoffMs: 4000 } });
      await claim(ctx.store, 'n1', T0 + MIN); // lease until T0 + 2 MIN
      expect(await ctx.store.sweepLostRuns(T0 + 2 * MIN, TTL)).toEqual([]);
      const lost = await ctx.store.sweepLostRuns(T0 + 2 * MIN + 1, TTL);
      expect(lost.map((r) => [r.id, r.status])).toEqual([[id, 'lost']]);
      expect(lost[0]!.reason).toContain('lease expired');
      const retry = await ctx.store.listRuns({ schedule: 'a', status: ['queued'], limit: 5 });
      expect(retry).toEqual([expect.objectContaining({ attempt: 2, notBefore: T0 + 2 * MIN + 1 + 4000 })]);
      // Nothing is lost twice.
      expect(await ctx.store.sweepLostRuns(T0 + 10 * MIN, 100 * MIN)).toEqual([]);
    });

    test('sweepLostRuns loses the running runs of a dead node before their leases run out', async () => {
      const id = await queuedRun(ctx.store, { retries: { max: 1, backoffMs: 0 } }); // n1's heartbeat: T0 + MIN
      const long = { tasks: ['work'], tags: [], limit: 10, leaseMs: 10 * MIN };
      await ctx.store.claimRuns({ node: 'n1', ...long, now: T0 + MIN }); // lease until T0 + 11 MIN
      const ttl = 2 * MIN;
      expect(await ctx.store.sweepLostRuns(T0 + 3 * MIN, ttl)).toEqual([]);
      const lost = await ctx.store.sweepLostRuns(T0 + 3 * MIN + 1, ttl);
      expect(lost.map((r) => [r.id, r.status, r.finishedAt])).toEqual([[id, 'lost', T0 + 3 * MIN + 1]]);
      expect(lost[0]!.reason).toBe(`node "n1" is dead: no heartbeat since ${new Date(T0 + MIN).toISOString()} (node TTL ${ttl} ms)`);
      // The retry goes to a live node, which keeps it while its heartbeat is fresh.
      await ctx.store.registerNode(nodeInfo('n2', ['work']), T0 + 3 * MIN + 1);
      const [retry] = await ctx.store.claimRuns({ node: 'n2', ...long, now: T0 + 3 * MIN + 1 });
      expect(retry).toMatchObject({ attempt: 2, node: 'n2' });
      expect(await ctx.store.sweepLostRuns(T0 + 5 * MIN, ttl)).toEqual([]);
      expect((await ctx.store.getRun(retry!.id))?.status).toBe('running');
    });

    test('sweepLostRuns loses queued runs targeted at a dead node', async () => {
      await ctx.store.syncConfigSchedules([spec('all', { target: { kind: 'all' } })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.registerNode(nodeInfo('n2'), T0);
      await ctx.store.createDueFires([plan('all', T0, [T0 + 1])], fireOpts(T0 + 1));
      await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [], leaseMs: MIN, now: T0 + TTL });
      const lost = await ctx.store.sweepLostRuns(T0 + TTL + 1, TTL);
      expect(lost.map((r) => [r.targetNode, r.status])).toEqual([['n2', 'lost']]);
      expect(lost[0]!.reason).toContain('target node "n2" is dead');
    });

    test('recoverNodeRuns loses the running runs of a restarted node at once and retries them', async () => {
      const id = await queuedRun(ctx.store, { retries: { max: 1, backoffMs: 0 } });
      await claim(ctx.store, 'n1', T0 + MIN);
      expect(await ctx.store.recoverNodeRuns('n2', T0 + MIN + 1)).toEqual([]);
      const lost = await ctx.store.recoverNodeRuns('n1', T0 + MIN + 1);
      expect(lost).toEqual([expect.objectContaining({ id, status: 'lost', finishedAt: T0 + MIN + 1 })]);
      expect(lost[0]!.reason).toContain('restarted');
      expect(await ctx.store.listRuns({ status: ['queued'], limit: 5 })).toEqual([expect.objectContaining({ attempt: 2 })]);
    });
  });

  describe('watchQueued', () => {
    test('is called after this store queues runs, and no more once stopped', async () => {
      let calls = 0;
      const stop = ctx.store.watchQueued(() => calls++);
      await queuedRun(ctx.store);
      await new Promise((r) => setTimeout(r, 0));
      expect(calls).toBeGreaterThan(0);
      stop();
      const before = calls;
      await ctx.store.triggerSchedule('a', fireOpts(T0 + 7));
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toBe(before);
    });
  });
}
