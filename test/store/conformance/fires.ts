import { describe, expect, test } from 'vitest';
import { ConflictError, NotFoundError } from '../../../src/errors.js';
import type { SuiteContext } from '../conformance.js';
import { MIN, T0, TTL, fireOpts, nodeInfo, plan, spec } from '../fixtures.js';

export function firesSuite(ctx: SuiteContext): void {
  describe('createDueFires', () => {
    test('applies a plan: moves the cursor, creates the fire and one queued run with the schedule timeout', async () => {
      await ctx.store.syncConfigSchedules([spec('a', { timeoutMs: 7000 })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const p = { schedule: 'a', fromCursor: T0, toCursor: T0 + MIN, fires: [{ scheduledAt: T0 + MIN, notBefore: T0 + MIN + 250 }] };
      const r = await ctx.store.createDueFires([p], fireOpts(T0 + MIN));
      expect(r.applied).toEqual(['a']);
      expect(r.stale).toEqual([]);
      expect(r.fires).toHaveLength(1);
      expect(r.fires[0]).toMatchObject({ schedule: 'a', scheduledAt: T0 + MIN, manual: false });
      expect(r.fires[0]!.runs).toHaveLength(1);
      expect(r.fires[0]!.runs[0]).toMatchObject({
        schedule: 'a',
        task: 'work',
        status: 'queued',
        attempt: 1,
        notBefore: T0 + MIN + 250,
        timeoutMs: 7000,
        targetNode: null,
        targetTag: null,
        createdAt: T0 + MIN,
      });
      expect((await ctx.store.getSchedule('a'))?.cursor).toBe(T0 + MIN);
    });

    test('a plan from a stale cursor is not applied and a fire is never made twice', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const p = plan('a', T0, [T0 + MIN]);
      expect((await ctx.store.createDueFires([p], fireOpts(T0 + MIN))).fires).toHaveLength(1);
      const again = await ctx.store.createDueFires([p], fireOpts(T0 + MIN));
      expect(again).toEqual({ applied: [], stale: ['a'], fires: [] });
      // A later plan whose fires overlap an existing one creates only the new fire.
      const next = await ctx.store.createDueFires([plan('a', T0 + MIN, [T0 + MIN, T0 + 2 * MIN])], fireOpts(T0 + 2 * MIN));
      expect(next.applied).toEqual(['a']);
      expect(next.fires.map((f) => f.scheduledAt)).toEqual([T0 + 2 * MIN]);
      expect(await ctx.store.listRuns({ schedule: 'a', limit: 10 })).toHaveLength(2);
    });

    test('a first pass from a null cursor applies', async () => {
      await ctx.store.putApiSchedule(spec('a', { source: 'api' }), T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      expect((await ctx.store.createDueFires([plan('a', null, [T0])], fireOpts(T0))).applied).toEqual([]);
      expect((await ctx.store.createDueFires([plan('a', T0, [T0 + MIN])], fireOpts(T0 + MIN))).applied).toEqual(['a']);
    });

    test('paused, disabled and unknown schedules get no fires and keep their cursor', async () => {
      await ctx.store.syncConfigSchedules([spec('p'), spec('d')], T0);
      await ctx.store.setPaused('p', true, T0);
      await ctx.store.syncConfigSchedules([spec('p')], T0);
      const r = await ctx.store.createDueFires(
        [plan('p', T0, [T0 + MIN]), plan('d', T0, [T0 + MIN]), plan('ghost', T0, [T0 + MIN])],
        fireOpts(T0 + MIN),
      );
      expect(r).toEqual({ applied: [], stale: ['p', 'd', 'ghost'], fires: [] });
      expect((await ctx.store.getSchedule('p'))?.cursor).toBe(T0);
      expect(await ctx.store.listRuns({ limit: 10 })).toEqual([]);
    });

    test('a misfire-skipped instant is recorded as one skipped run with its reason', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const r = await ctx.store.createDueFires([plan('a', T0, [T0 + MIN], 'misfire skip: node was down')], fireOpts(T0 + 10 * MIN));
      expect(r.fires[0]!.runs).toEqual([
        expect.objectContaining({ status: 'skipped', reason: 'misfire skip: node was down', finishedAt: T0 + 10 * MIN }),
      ]);
    });

    test('no live node offering the task gives a skipped run that says so', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('t', { target: { kind: 'tag', tag: 'eu' } })], T0);
      await ctx.store.registerNode(nodeInfo('other', ['different-task']), T0);
      await ctx.store.registerNode(nodeInfo('untagged', ['work'], ['us']), T0);
      await ctx.store.registerNode(nodeInfo('dead', ['work'], ['eu']), T0 - TTL - 1);
      const r = await ctx.store.createDueFires([plan('a', T0, [T0 + 1]), plan('t', T0, [T0 + 1])], fireOpts(T0));
      const [a, t] = r.fires;
      expect(a!.runs[0]).toMatchObject({ status: 'queued' }); // "untagged" offers work
      expect(t!.runs).toHaveLength(1);
      expect(t!.runs[0]!.status).toBe('skipped');
      expect(t!.runs[0]!.reason).toContain('no live node with tag "eu" offers task "work"');
    });

    test('target tag gives one queued run carrying the tag', async () => {
      await ctx.store.syncConfigSchedules([spec('t', { target: { kind: 'tag', tag: 'eu' } })], T0);
      await ctx.store.registerNode(nodeInfo('n1', ['work'], ['eu']), T0);
      await ctx.store.registerNode(nodeInfo('n2', ['work'], ['eu']), T0);
      const r = await ctx.store.createDueFires([plan('t', T0, [T0 + 1])], fireOpts(T0));
      expect(r.fires[0]!.runs).toEqual([expect.objectContaining({ status: 'queued', targetTag: 'eu', targetNode: null })]);
    });

    test('target all gives one run per live, non-draining node offering the task', async () => {
      await ctx.store.syncConfigSchedules([spec('all', { target: { kind: 'all' } })], T0);
      for (const n of ['n1', 'n2', 'n3']) await ctx.store.registerNode(nodeInfo(n), T0);
      await ctx.store.registerNode(nodeInfo('no-task', ['else']), T0);
      await ctx.store.registerNode(nodeInfo('stale'), T0 - TTL - 1);
      await ctx.store.setDraining('n3', true);
      const r = await ctx.store.createDueFires([plan('all', T0, [T0 + 1])], fireOpts(T0));
      const runs = r.fires[0]!.runs;
      expect(runs.map((x) => x.targetNode).sort()).toEqual(['n1', 'n2']);
      expect(runs.every((x) => x.status === 'queued')).toBe(true);
    });

    test('the creator claims the runs it may run as it creates them: stored running on it, with their lease; the rest stay queued', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('later'), spec('all', { target: { kind: 'all' } })], T0);
      for (const n of ['n1', 'n2']) await ctx.store.registerNode(nodeInfo(n), T0);
      const claim = { tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, dueBy: T0 + 500 };
      const r = await ctx.store.createDueFires(
        [plan('a', T0, [T0 + 500]), plan('later', T0, [T0 + 501]), plan('all', T0, [T0 + 500])],
        { ...fireOpts(T0 + 100), claim },
      );
      const made = r.fires.flatMap((f) => f.runs).map((x) => [x.schedule, x.targetNode, x.status, x.node, x.startedAt, x.leaseUntil]);
      expect(made).toEqual([
        ['a', null, 'running', 'n1', T0 + 100, T0 + 100 + MIN],
        ['later', null, 'queued', null, null, null],
        ['all', 'n1', 'running', 'n1', T0 + 100, T0 + 100 + MIN],
        ['all', 'n2', 'queued', null, null, null],
      ]);
      for (const run of r.fires.flatMap((f) => f.runs)) expect(await ctx.store.getRun(run.id)).toEqual(run);
      // A claim hands out only what stayed queued; the node's count includes what its scheduler took.
      const taken = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 10, leaseMs: MIN, now: T0 + 600 });
      expect(taken.map((x) => x.schedule)).toEqual(['later']);
      expect((await ctx.store.listNodes()).map((n) => [n.name, n.running])).toEqual([['n1', 3], ['n2', 0]]);
      // At most `limit` runs are taken.
      const next = await ctx.store.createDueFires([plan('a', T0 + 500, [T0 + 1000, T0 + 1001])], { ...fireOpts(T0 + 900), claim: { ...claim, limit: 1, dueBy: T0 + 2000 } });
      expect(next.fires.map((f) => f.runs[0]!.status)).toEqual(['running', 'queued']);
    });

    test('forbid skips a fire while a run is queued or running, naming it', async () => {
      await ctx.store.syncConfigSchedules([spec('f', { concurrency: 'forbid' })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const first = await ctx.store.createDueFires([plan('f', T0, [T0 + MIN])], fireOpts(T0 + MIN));
      const id = first.fires[0]!.runs[0]!.id;
      const second = await ctx.store.createDueFires([plan('f', T0 + MIN, [T0 + 2 * MIN])], fireOpts(T0 + 2 * MIN));
      expect(second.fires[0]!.runs[0]).toMatchObject({ status: 'skipped', reason: `concurrency forbid: run ${id} is still queued` });
      await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 5, leaseMs: MIN, now: T0 + 2 * MIN });
      const third = await ctx.store.createDueFires([plan('f', T0 + 2 * MIN, [T0 + 3 * MIN])], fireOpts(T0 + 3 * MIN));
      expect(third.fires[0]!.runs[0]!.reason).toBe(`concurrency forbid: run ${id} is still running`);
      // Still running: the next fire is skipped too.
      const batch = await ctx.store.createDueFires([plan('f', T0 + 3 * MIN, [T0 + 4 * MIN])], fireOpts(T0 + 4 * MIN));
      expect(batch.fires[0]!.runs[0]!.status).toBe('skipped');
    });

    test('forbid within one batch queues the first instant and skips the rest', async () => {
      await ctx.store.syncConfigSchedules([spec('f', { concurrency: 'forbid' })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const r = await ctx.store.createDueFires([plan('f', T0, [T0 + MIN, T0 + 2 * MIN])], fireOpts(T0 + 2 * MIN));
      expect(r.fires.map((f) => f.runs[0]!.status)).toEqual(['queued', 'skipped']);
    });

    test('replace cancels queued runs, asks running ones to stop, then queues the new run', async () => {
      await ctx.store.syncConfigSchedules([spec('r', { concurrency: 'replace' })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const a = await ctx.store.createDueFires([plan('r', T0, [T0 + MIN])], fireOpts(T0 + MIN));
      const [running] = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 1, leaseMs: MIN, now: T0 + MIN });
      expect(running?.id).toBe(a.fires[0]!.runs[0]!.id);
      const b = await ctx.store.createDueFires([plan('r', T0 + MIN, [T0 + 2 * MIN])], fireOpts(T0 + 2 * MIN));
      const queuedId = b.fires[0]!.runs[0]!.id;
      const c = await ctx.store.createDueFires([plan('r', T0 + 2 * MIN, [T0 + 3 * MIN])], fireOpts(T0 + 3 * MIN));
      expect(c.fires[0]!.runs[0]!.status).toBe('queued');
      expect(await ctx.store.getRun(queuedId)).toMatchObject({ status: 'cancelled', finishedAt: T0 + 3 * MIN });
      expect((await ctx.store.getRun(queuedId))!.reason).toContain('replaced by the fire at');
      expect(await ctx.store.getRun(running!.id)).toMatchObject({ status: 'running', cancelRequested: true });
    });

    test('replace within one batch leaves only the last instant queued', async () => {
      await ctx.store.syncConfigSchedules([spec('r', { concurrency: 'replace' })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const r = await ctx.store.createDueFires([plan('r', T0, [T0 + MIN, T0 + 2 * MIN])], fireOpts(T0 + 2 * MIN));
      expect(r.fires.map((f) => f.runs[0]!.status)).toEqual(['cancelled', 'queued']);
      expect((await ctx.store.listRuns({ schedule: 'r', status: ['queued'], limit: 10 })).map((x) => x.scheduledAt)).toEqual([T0 + 2 * MIN]);
    });
  });

  describe('triggerSchedule', () => {
    test('makes a manual fire at now with the same targeting', async () => {
      await ctx.store.syncConfigSchedules([spec('a', { target: { kind: 'all' } })], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.registerNode(nodeInfo('n2'), T0);
      const f = await ctx.store.triggerSchedule('a', fireOpts(T0 + 5));
      expect(f).toMatchObject({ schedule: 'a', scheduledAt: T0 + 5, manual: true });
      expect(f.runs.map((r) => [r.targetNode, r.manual, r.notBefore, r.status])).toEqual([
        ['n1', true, T0 + 5, 'queued'],
        ['n2', true, T0 + 5, 'queued'],
      ]);
      // The schedule's cursor is not the trigger's business.
      expect((await ctx.store.getSchedule('a'))?.cursor).toBe(T0);
    });

    test('refuses unknown schedules, disabled ones and a second fire at the same instant', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('gone')], T0);
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await expect(ctx.store.triggerSchedule('nope', fireOpts(T0))).rejects.toThrow(NotFoundError);
      await expect(ctx.store.triggerSchedule('gone', fireOpts(T0))).rejects.toThrow(ConflictError);
      await ctx.store.triggerSchedule('a', fireOpts(T0 + 1));
      await expect(ctx.store.triggerSchedule('a', fireOpts(T0 + 1))).rejects.toThrow(ConflictError);
    });
  });
}
