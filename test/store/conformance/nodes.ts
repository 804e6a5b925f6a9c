import { describe, expect, test } from 'vitest';
import { NotFoundError } from '../../../src/errors.js';
import type { SuiteContext } from '../conformance.js';
import { MIN, T0, fireOpts, nodeInfo, plan, spec } from '../fixtures.js';

export function nodesSuite(ctx: SuiteContext): void {
  describe('nodes and heartbeats', () => {
    test('registerNode, listNodes with running counts, draining and deregistering', async () => {
      await ctx.store.registerNode(nodeInfo('n2', ['work'], ['eu', 'batch']), T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0 + 5);
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2])], fireOpts(T0 + 5));
      await ctx.store.claimRuns({ node: 'n2', tasks: ['work'], tags: [], limit: 5, leaseMs: MIN, now: T0 + 5 });
      const nodes = await ctx.store.listNodes();
      expect(nodes.map((n) => [n.name, n.running, n.heartbeatAt])).toEqual([
        ['n1', 0, T0 + 5],
        ['n2', 2, T0],
      ]);
      expect(nodes[1]).toMatchObject({ host: 'n2.example', tasks: ['work'], tags: ['eu', 'batch'], draining: false, clockSkewMs: 0 });
      await ctx.store.setDraining('n2', true);
      expect((await ctx.store.listNodes())[1]!.draining).toBe(true);
      await expect(ctx.store.setDraining('ghost', true)).rejects.toThrow(NotFoundError);
      await ctx.store.deregisterNode('n1', T0 + 10);
      expect((await ctx.store.listNodes()).map((n) => n.name)).toEqual(['n2']);
      // The node's history stays.
      expect(await ctx.store.listRuns({ node: 'n2', limit: 5 })).toHaveLength(2);
    });

    test('a node says whether it runs a scheduler; unsaid means it does', async () => {
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.registerNode({ ...nodeInfo('n2'), scheduler: false }, T0);
      expect((await ctx.store.listNodes()).map((n) => [n.name, n.scheduler])).toEqual([
        ['n1', true],
        ['n2', false],
      ]);
      // Restarted with a scheduler, the heartbeat says so.
      await ctx.store.heartbeat({ node: { ...nodeInfo('n2'), scheduler: true }, clockSkewMs: 0, runIds: [], leaseMs: MIN, now: T0 + 1 });
      expect((await ctx.store.listNodes()).map((n) => n.scheduler)).toEqual([true, true]);
    });

    test('heartbeat renews leases, reports cancel requests, revoked runs and draining', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2, T0 + 3])], fireOpts(T0));
      const [r1, r2, r3] = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 3, leaseMs: 1000, now: T0 + 10 });
      await ctx.store.cancelRun(r2!.id, 'operator', T0 + 20);
      await ctx.store.finishRun({ runId: r3!.id, node: 'n1', status: 'succeeded', exitCode: 0, signal: null, reason: null, output: { stdout: '', stderr: '' }, now: T0 + 30 });
      await ctx.store.setDraining('n1', true);
      const hb = await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: -42, runIds: [r1!.id, r2!.id, r3!.id], leaseMs: 5000, now: T0 + 900 });
      expect(hb).toMatchObject({ cancel: [r2!.id], revoked: [r3!.id], draining: true });
      expect((await ctx.store.getRun(r1!.id))?.leaseUntil).toBe(T0 + 5900);
      const [n] = await ctx.store.listNodes();
      expect(n).toMatchObject({ heartbeatAt: T0 + 900, clockSkewMs: -42, draining: true, executing: null });
      // The tasks it executes, once it says, apart from the runs it holds.
      await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [], leaseMs: 5000, now: T0 + 901, executing: 0 });
      const [counted] = await ctx.store.listNodes();
      expect(counted).toMatchObject({ running: 2, executing: 0 });
      // Without counts: the same record, its running runs not counted.
      expect(await ctx.store.listNodes({ counts: false })).toEqual([{ ...counted, running: null }]);
      // A run left out of runIds is not renewed: its lease runs out and the sweeper takes it.
      const hb2 = await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [r2!.id], leaseMs: 5000, now: T0 + 5000 });
      expect(hb2.revoked).toEqual([]);
      expect((await ctx.store.sweepLostRuns(T0 + 5901, 60_000)).map((r) => r.id)).toEqual([r1!.id]);
    });

    test('with renewBefore, only leases ending before it are rewritten; the others are still checked for cancels and takeovers', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2, T0 + 3])], fireOpts(T0));
      const [old] = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 1, leaseMs: 1000, now: T0, dueBy: T0 + 3 });
      const [fresh, gone] = await ctx.store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 2, leaseMs: 1000, now: T0 + 600 });
      await ctx.store.cancelRun(fresh!.id, 'operator', T0 + 610);
      await ctx.store.finishRun({ runId: gone!.id, node: 'n1', status: 'succeeded', exitCode: 0, signal: null, reason: null, output: { stdout: '', stderr: '' }, now: T0 + 620 });
      // At T0 + 700, leases ending before T0 + 1,500 are renewed: the one taken at T0 (ends T0 + 1,000), not the one taken at T0 + 600.
      const hb = await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [old!.id, fresh!.id, gone!.id], leaseMs: 1000, now: T0 + 700, renewBefore: T0 + 1500 });
      expect(hb).toMatchObject({ cancel: [fresh!.id], revoked: [gone!.id], draining: false });
      expect((await ctx.store.getRun(old!.id))?.leaseUntil).toBe(T0 + 1700);
      expect((await ctx.store.getRun(fresh!.id))?.leaseUntil).toBe(T0 + 1600);
    });

    test("markPlanned records how far a node's scheduler planned; a heartbeat or re-registering keeps it", async () => {
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      expect((await ctx.store.listNodes())[0]!.planned).toBeNull();
      await ctx.store.markPlanned('n1', { through: T0 + 999, view: 'n1,n2@7', at: T0 + 5 });
      await ctx.store.heartbeat({ node: nodeInfo('n1'), clockSkewMs: 0, runIds: [], leaseMs: MIN, now: T0 + 10 });
      await ctx.store.registerNode(nodeInfo('n1'), T0 + 20);
      expect((await ctx.store.listNodes())[0]!.planned).toEqual({ through: T0 + 999, view: 'n1,n2@7', at: T0 + 5 });
    });

    test('a heartbeat registers an unknown node and re-registering keeps draining', async () => {
      const hb = await ctx.store.heartbeat({ node: nodeInfo('fresh'), clockSkewMs: 3, runIds: [], leaseMs: 1000, now: T0 });
      expect(hb).toMatchObject({ cancel: [], revoked: [], draining: false });
      await ctx.store.setDraining('fresh', true);
      await ctx.store.registerNode(nodeInfo('fresh'), T0 + 1);
      expect(await ctx.store.listNodes()).toEqual([expect.objectContaining({ name: 'fresh', draining: true, clockSkewMs: 3 })]);
    });
  });
}
