import { describe, expect, test } from 'vitest';
import { ConfigError, ConflictError, NotFoundError } from '../../../src/errors.js';
import type { Store } from '../../../src/store/store.js';
import type { SuiteContext } from '../conformance.js';
import { MIN, T0, fireOpts, nodeInfo, plan, spec } from '../fixtures.js';

/** Claims every due run of `n1` and finishes it at `at`, with a log path per run. */
async function runAndFinish(store: Store, at: number): Promise<number[]> {
  const runs = await store.claimRuns({ node: 'n1', tasks: ['work'], tags: [], limit: 100, leaseMs: MIN, now: at });
  for (const r of runs) {
    await store.setRunLogPath(r.id, `/logs/${r.id}.log`);
    await store.finishRun({ runId: r.id, node: 'n1', status: 'succeeded', exitCode: 0, signal: null, reason: null, output: { stdout: 'x', stderr: '' }, now: at });
  }
  return runs.map((r) => r.id);
}

export function accessSuite(ctx: SuiteContext): void {
  describe('API tokens, audit log and retention', () => {
    test('tokens are found by hash while live; names are unique among live tokens and reusable after revoking', async () => {
      const t = await ctx.store.createToken({ name: 'ci', role: 'operator', hash: 'h1', now: T0 });
      expect(t).toEqual({ id: expect.any(Number), name: 'ci', role: 'operator', createdAt: T0, revokedAt: null });
      expect(await ctx.store.findToken('h1')).toEqual(t);
      expect(await ctx.store.findToken('nope')).toBeNull();
      await expect(ctx.store.createToken({ name: 'ci', role: 'admin', hash: 'h2', now: T0 })).rejects.toThrow(ConflictError);
      await expect(ctx.store.createToken({ name: 'x', role: 'root' as never, hash: 'h3', now: T0 })).rejects.toThrow(ConfigError);

      const revoked = await ctx.store.revokeToken('ci', T0 + 5);
      expect(revoked.revokedAt).toBe(T0 + 5);
      expect(await ctx.store.findToken('h1')).toBeNull();
      await expect(ctx.store.revokeToken('ci', T0 + 6)).rejects.toThrow(NotFoundError);

      const again = await ctx.store.createToken({ name: 'ci', role: 'viewer', hash: 'h4', now: T0 + 7 });
      expect((await ctx.store.listTokens()).map((x) => [x.name, x.role, x.revokedAt])).toEqual([
        ['ci', 'operator', T0 + 5],
        ['ci', 'viewer', null],
      ]);
      // Another connection sees the same tokens.
      const other = await ctx.open();
      expect(await other.findToken('h4')).toEqual(again);
    });

    test('the audit log lists newest first and pages by id', async () => {
      for (let i = 0; i < 5; i++) {
        await ctx.store.appendAudit({ at: T0 + i, actor: 'alice', action: 'schedule.pause', target: `s${i}`, detail: i === 0 ? '{"why":"test"}' : null });
      }
      const page1 = await ctx.store.listAudit({ limit: 3 });
      expect(page1.map((e) => e.target)).toEqual(['s4', 's3', 's2']);
      const page2 = await ctx.store.listAudit({ limit: 3, before: page1[2]!.id });
      expect(page2.map((e) => e.target)).toEqual(['s1', 's0']);
      expect(page2[1]).toEqual({ id: expect.any(Number), at: T0, actor: 'alice', action: 'schedule.pause', target: 's0', detail: '{"why":"test"}' });
      await expect(ctx.store.listAudit({ limit: 0 })).rejects.toThrow(ConfigError);
    });

    test('pruning deletes finished runs by age or beyond the newest N per schedule, never active ones', async () => {
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      await ctx.store.syncConfigSchedules([spec('a'), spec('b')], T0);
      await ctx.store.createDueFires([plan('a', T0, [T0 + 1, T0 + 2, T0 + 3]), plan('b', T0, [T0 + 1])], fireOpts(T0));
      const old = await runAndFinish(ctx.store, T0 + 10);
      await ctx.store.createDueFires([plan('a', T0 + 3, [T0 + 4]), plan('b', T0 + 1, [T0 + 5])], fireOpts(T0 + 20));
      const recent = await runAndFinish(ctx.store, T0 + 100);
      // One more queued run of `a`: active runs are never pruned, whatever their age.
      await ctx.store.createDueFires([plan('a', T0 + 4, [T0 + 6])], fireOpts(T0 + 200));
      const [queued] = await ctx.store.listRuns({ status: ['queued'], limit: 5 });

      expect(await ctx.store.pruneRuns({})).toEqual({ deleted: 0, logPaths: [] });
      const byAge = await ctx.store.pruneRuns({ finishedBefore: T0 + 50 });
      expect(byAge.deleted).toBe(old.length);
      expect(byAge.logPaths.sort()).toEqual(old.map((id) => `/logs/${id}.log`).sort());
      expect((await ctx.store.listRuns({ limit: 50 })).map((r) => r.id).sort((x, y) => x - y)).toEqual([...recent, queued!.id].sort((x, y) => x - y));

      // Keep 1 per schedule: `a`'s newest is the queued run, so its finished one goes; `b` keeps its one.
      const byCount = await ctx.store.pruneRuns({ keepPerSchedule: 1 });
      expect(byCount.deleted).toBe(1);
      const left = await ctx.store.listRuns({ limit: 50 });
      expect(left.map((r) => [r.schedule, r.status]).sort()).toEqual([
        ['a', 'queued'],
        ['b', 'succeeded'],
      ]);
      await expect(ctx.store.pruneRuns({ keepPerSchedule: -1 })).rejects.toThrow(ConfigError);
      // The fires stay: a pruned instant is still never fired again (invariant 1).
      const replay = await ctx.store.createDueFires([plan('b', T0 + 5, [T0 + 1])], fireOpts(T0 + 300));
      expect(replay.fires).toEqual([]);
    });
  });
}
