import { describe, expect, test } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { FinishRequest, FinishStatus, FireClaim, Run } from '../../../src/store/types.js';
import type { SuiteContext } from '../conformance.js';
import { MIN, T0, fireOpts, nodeInfo, plan, spec } from '../fixtures.js';

/**
 * Runs a creator claims may be handed over unwritten (FireClaim.defer); a store may also write
 * them as always. Either way the stored outcome is the same, which is what these tests check:
 * results recorded once, a dead or restarted node's runs lost and retried, late results refused.
 */
export function deferredSuite(ctx: SuiteContext): void {
  describe('runs handed over unwritten (FireClaim.defer)', () => {
    /** Registers `name` and beats until the store knows how far back its unwritten runs may reach. */
    async function deferringNode(store: Store, name: string, now: number): Promise<{ epoch: number; deferring: boolean }> {
      const node = nodeInfo(name);
      await store.registerNode(node, now);
      const first = await store.heartbeat({ node, clockSkewMs: 0, runIds: [], leaseMs: MIN, now });
      const epoch = first.deferEpoch ?? 0;
      await store.heartbeat({ node, clockSkewMs: 0, runIds: [], leaseMs: MIN, now, deferred: { epoch, since: now - 1000, write: [] } });
      return { epoch, deferring: first.deferEpoch !== undefined };
    }

    const claimOf = (epoch: number, dueBy = T0 + 5000): FireClaim => ({ tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, dueBy, defer: { epoch } });

    function result(run: Run, epoch: number, status: FinishStatus, now: number, over: Partial<FinishRequest> = {}): FinishRequest {
      return {
        runId: run.id,
        node: 'n1',
        status,
        exitCode: status === 'succeeded' ? 0 : 3,
        signal: null,
        reason: status === 'succeeded' ? null : 'exit status 3',
        output: { stdout: `out of ${run.schedule}`, stderr: '' },
        now,
        startedAt: run.scheduledAt + 2,
        ...(run.deferred && { deferred: { run, epoch } }),
        ...over,
      };
    }

    async function createDeferred(names: string[], epoch: number): Promise<Run[]> {
      const created = await ctx.store.createDueFires(
        names.map((n) => plan(n, T0, [T0 + 1000])),
        { ...fireOpts(T0 + 500), claim: claimOf(epoch) },
      );
      return created.fires.flatMap((f) => f.runs);
    }

    test('a run handed over unwritten is stored once it ends, with its output; a failed one gets its retry', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('b', { retries: { max: 1, backoffMs: 1000 } })], T0);
      const { epoch, deferring } = await deferringNode(ctx.store, 'n1', T0 + 100);
      const [a, b] = await createDeferred(['a', 'b'], epoch);
      expect([a, b].map((r) => [r!.schedule, r!.status, r!.node])).toEqual([
        ['a', 'running', 'n1'],
        ['b', 'running', 'n1'],
      ]);
      // Unwritten where the store defers: only the fires are stored until the runs end.
      for (const r of [a!, b!]) {
        expect(r.deferred === true).toBe(deferring);
        expect((await ctx.store.getRun(r.id)) === null).toBe(deferring);
      }
      expect((await ctx.store.listNodes()).find((n) => n.name === 'n1')!.running).toBe(deferring ? 0 : 2);

      const res = await ctx.store.finishRuns([result(a!, epoch, 'succeeded', T0 + 1010), result(b!, epoch, 'failed', T0 + 1020)]);
      expect(res.map((r) => r.applied)).toEqual([true, true]);
      expect(res[0]!.retry).toBeNull();
      expect(res[1]!.retry).toMatchObject({ schedule: 'b', scheduledAt: T0 + 1000, attempt: 2, status: 'queued', notBefore: T0 + 2020 });
      expect(await ctx.store.getRun(a!.id)).toMatchObject({
        status: 'succeeded', node: 'n1', attempt: 1, scheduledAt: T0 + 1000, startedAt: T0 + 1002, finishedAt: T0 + 1010, exitCode: 0, leaseUntil: null,
      });
      expect(await ctx.store.getRunOutput(a!.id)).toEqual({ stdout: 'out of a', stderr: '' });
      expect(await ctx.store.getRun(b!.id)).toMatchObject({ status: 'failed', reason: 'exit status 3', exitCode: 3 });
      // Recorded once: the same results again change nothing.
      expect((await ctx.store.finishRuns([result(a!, epoch, 'failed', T0 + 1100)])).map((r) => r.applied)).toEqual([false]);
      expect((await ctx.store.getRun(a!.id))!.status).toBe('succeeded');
      expect((await ctx.store.listRuns({ limit: 10 })).map((r) => [r.schedule, r.attempt, r.status])).toEqual([
        ['b', 2, 'queued'],
        ['b', 1, 'failed'],
        ['a', 1, 'succeeded'],
      ]);
    });

    test('a node that dies holding runs unwritten: a sweep records them lost and retries them; its late results and old epoch are refused', async () => {
      await ctx.store.syncConfigSchedules([spec('a', { retries: { max: 1, backoffMs: 1000 } }), spec('b')], T0);
      const { epoch, deferring } = await deferringNode(ctx.store, 'n1', T0 + 100);
      await ctx.store.registerNode(nodeInfo('n2'), T0 + 9000);
      const [a, b] = await createDeferred(['a', 'b'], epoch);

      const lost = await ctx.store.sweepLostRuns(T0 + 10_000, 3000);
      expect(lost.map((r) => [r.schedule, r.scheduledAt, r.attempt, r.status, r.node, r.finishedAt])).toEqual([
        ['a', T0 + 1000, 1, 'lost', 'n1', T0 + 10_000],
        ['b', T0 + 1000, 1, 'lost', 'n1', T0 + 10_000],
      ]);
      expect(lost[0]!.reason).toContain('node "n1" is dead');
      expect(await ctx.store.sweepLostRuns(T0 + 10_500, 3000)).toEqual([]);
      const stored = async () => (await ctx.store.listRuns({ limit: 10 })).map((r) => [r.schedule, r.attempt, r.status]);
      const after = [
        ['a', 2, 'queued'],
        ['b', 1, 'lost'],
        ['a', 1, 'lost'],
      ];
      expect(await stored()).toEqual(after);

      // The node was only out of reach: what it sends now is refused, never doubled.
      const late = await ctx.store.finishRuns([result(a!, epoch, 'succeeded', T0 + 11_000), result(b!, epoch, 'succeeded', T0 + 11_000)]);
      expect(late.map((r) => r.applied)).toEqual([false, false]);
      expect(await stored()).toEqual(after);
      const beat = await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [], leaseMs: MIN, now: T0 + 11_000, deferred: { epoch, since: T0, write: [] } });
      expect(beat.deferEpoch !== undefined && beat.deferEpoch !== epoch).toBe(deferring);
      // Runs it claims under the old epoch are written as always.
      const next = await ctx.store.createDueFires([plan('b', T0 + 1000, [T0 + 12_000])], { ...fireOpts(T0 + 11_500), claim: claimOf(epoch, T0 + 13_000) });
      const [again] = next.fires.flatMap((f) => f.runs);
      expect(again!.deferred).toBeUndefined();
      expect(await ctx.store.getRun(again!.id)).toMatchObject({ status: 'running', node: 'n1' });
    });

    test('a node restarting under the same name finds the runs it held unwritten lost, and retried', async () => {
      await ctx.store.syncConfigSchedules([spec('a', { retries: { max: 1, backoffMs: 1000 } })], T0);
      const { epoch } = await deferringNode(ctx.store, 'n1', T0 + 100);
      const [a] = await createDeferred(['a'], epoch);
      await ctx.store.registerNode(nodeInfo('n1'), T0 + 2000);
      const lost = await ctx.store.recoverNodeRuns('n1', T0 + 2000);
      expect(lost.map((r) => [r.schedule, r.attempt, r.status, r.reason])).toEqual([['a', 1, 'lost', 'node "n1" restarted while the run was running']]);
      expect((await ctx.store.finishRuns([result(a!, epoch, 'succeeded', T0 + 2100)]))[0]!.applied).toBe(false);
      expect((await ctx.store.listRuns({ limit: 10 })).map((r) => [r.attempt, r.status])).toEqual([
        [2, 'queued'],
        [1, 'lost'],
      ]);
      expect(await ctx.store.recoverNodeRuns('n1', T0 + 2200)).toEqual([]);
    });

    test('a run still going is written `running` by a heartbeat: it is listed, can be cancelled, and its result finishes that row', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      const { epoch, deferring } = await deferringNode(ctx.store, 'n1', T0 + 100);
      const [a] = await createDeferred(['a'], epoch);
      const beat = await ctx.store.heartbeat({
        node: nodeInfo('n1'), clockSkewMs: 0, runIds: deferring ? [] : [a!.id], leaseMs: MIN, now: T0 + 2500,
        deferred: { epoch, since: T0 + 500, write: [{ ...a!, startedAt: T0 + 1001 }] },
      });
      expect(beat.written ?? []).toEqual(deferring ? [a!.id] : []);
      expect(await ctx.store.getRun(a!.id)).toMatchObject({ status: 'running', node: 'n1', scheduledAt: T0 + 1000 });
      expect((await ctx.store.listNodes()).find((n) => n.name === 'n1')!.running).toBe(1);
      await ctx.store.cancelRun(a!.id, 'stop it', T0 + 2600);
      const next = await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [a!.id], leaseMs: MIN, now: T0 + 3000 });
      expect(next.cancel).toEqual([a!.id]);
      // A result that crossed the write still carries the run: it finishes the written row.
      const res = await ctx.store.finishRuns([result(a!, epoch, 'cancelled', T0 + 3100, { reason: 'stop it', exitCode: null })]);
      expect(res.map((r) => r.applied)).toEqual([true]);
      expect(await ctx.store.getRun(a!.id)).toMatchObject({ status: 'cancelled', reason: 'stop it', finishedAt: T0 + 3100, leaseUntil: null });
      expect(await ctx.store.listRuns({ limit: 10 })).toHaveLength(1);
    });

    test('a call whose answer was lost: each fire it made gets a run no one holds, queued for any node, once', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('b'), spec('c')], T0);
      const { epoch, deferring } = await deferringNode(ctx.store, 'n1', T0 + 100);
      // The store made the fires and the node never heard: the runs it returned are nobody's.
      await createDeferred(['a', 'b'], epoch);
      const queued = await ctx.store.requeueUnanswered('n1', T0 + 500, ['a', 'b', 'c'], T0 + 900);
      expect(queued.map((r) => [r.schedule, r.scheduledAt, r.status, r.attempt, r.node])).toEqual(
        deferring ? [['a', T0 + 1000, 'queued', 1, null], ['b', T0 + 1000, 'queued', 1, null]] : [],
      );
      // Either way every fire has one run, which a node can now take (claimed, or still held by n1's lease).
      const runs = await ctx.store.listRuns({ limit: 10 });
      expect(runs.map((r) => r.schedule).sort()).toEqual(['a', 'b']);
      expect(runs.every((r) => r.status === (deferring ? 'queued' : 'running'))).toBe(true);
      expect(await ctx.store.requeueUnanswered('n1', T0 + 500, ['a', 'b', 'c'], T0 + 950)).toEqual([]);
      // Fires another call made (another instant, another node) are not this call's.
      expect(await ctx.store.requeueUnanswered('n2', T0 + 500, ['a', 'b'], T0 + 950)).toEqual([]);
      expect(await ctx.store.requeueUnanswered('n1', T0 + 400, ['a', 'b'], T0 + 950)).toEqual([]);
    });

    test('runs that others look for before they end are always written: forbid and replace schedules, fires caught up from long ago', async () => {
      await ctx.store.syncConfigSchedules([spec('f', { concurrency: 'forbid' }), spec('r', { concurrency: 'replace' }), spec('old')], T0);
      const { epoch } = await deferringNode(ctx.store, 'n1', T0 + 10 * MIN);
      const created = await ctx.store.createDueFires(
        [plan('f', T0, [T0 + 10 * MIN + 1000]), plan('r', T0, [T0 + 10 * MIN + 1000]), plan('old', T0, [T0 + MIN])],
        { ...fireOpts(T0 + 10 * MIN + 500), claim: claimOf(epoch, T0 + 11 * MIN) },
      );
      const runs = created.fires.flatMap((f) => f.runs);
      expect(runs.map((r) => [r.schedule, r.status, r.deferred])).toEqual([
        ['f', 'running', undefined],
        ['r', 'running', undefined],
        ['old', 'running', undefined],
      ]);
      for (const r of runs) expect((await ctx.store.getRun(r.id))!.status).toBe('running');
    });
  });
}
