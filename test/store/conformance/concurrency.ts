import { describe, expect, test } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { SuiteContext } from '../conformance.js';
import { MIN, T0, fireOpts, nodeInfo, plan, spec } from '../fixtures.js';

const STORES = 4;
const SCHEDULES = 40;
const STEPS = 5;

export function concurrencySuite(ctx: SuiteContext): void {
  describe('invariant 1 under racing stores', () => {
    test('several stores racing createDueFires on the same plans create each fire exactly once', async () => {
      const names = Array.from({ length: SCHEDULES }, (_, i) => `s${String(i).padStart(2, '0')}`);
      await ctx.store.syncConfigSchedules(names.map((n) => spec(n)), T0);
      await ctx.store.registerNode(nodeInfo('n1'), T0);
      const stores: Store[] = [ctx.store];
      for (let i = 1; i < STORES; i++) stores.push(await ctx.open());
      let created = 0;
      let applied = 0;
      for (let step = 0; step < STEPS; step++) {
        const from = T0 + step * MIN;
        const to = from + MIN;
        // Each store sends the batch in its own order, as independent nodes would.
        const results = await Promise.all(
          stores.map((s, i) => {
            const plans = names.map((n) => plan(n, from, [to - MIN / 2, to]));
            return s.createDueFires(i % 2 ? plans.reverse() : plans, fireOpts(to, `n${i}`));
          }),
        );
        for (const r of results) {
          created += r.fires.length;
          applied += r.applied.length;
        }
      }
      expect(applied).toBe(SCHEDULES * STEPS);
      expect(created).toBe(SCHEDULES * STEPS * 2);
      const runs = await ctx.store.listRuns({ limit: 10_000 });
      expect(runs).toHaveLength(SCHEDULES * STEPS * 2);
      const keys = new Set(runs.map((r) => `${r.schedule}@${r.scheduledAt}`));
      expect(keys.size).toBe(SCHEDULES * STEPS * 2);
      for (const s of await ctx.store.listSchedules()) expect(s.cursor).toBe(T0 + STEPS * MIN);
    });

    test('several stores racing claimRuns claim each run exactly once', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      const instants = Array.from({ length: 200 }, (_, i) => T0 + i + 1);
      const nodes = Array.from({ length: STORES }, (_, i) => `n${i}`);
      for (const n of nodes) await ctx.store.registerNode(nodeInfo(n), T0);
      await ctx.store.createDueFires([plan('a', T0, instants)], fireOpts(T0 + 300));
      const stores: Store[] = [ctx.store];
      for (let i = 1; i < STORES; i++) stores.push(await ctx.open());
      const claimedBy = new Map<number, string>();
      let duplicates = 0;
      await Promise.all(
        stores.map(async (s, i) => {
          for (;;) {
            const got = await s.claimRuns({ node: nodes[i]!, tasks: ['work'], tags: [], limit: 7, leaseMs: MIN, now: T0 + 300 });
            if (got.length === 0) return;
            for (const r of got) {
              if (claimedBy.has(r.id)) duplicates++;
              claimedBy.set(r.id, nodes[i]!);
            }
          }
        }),
      );
      expect(duplicates).toBe(0);
      expect(claimedBy.size).toBe(200);
      const stored = await ctx.store.listRuns({ limit: 1000 });
      expect(stored.every((r) => r.status === 'running' && r.node === claimedBy.get(r.id))).toBe(true);
    });
  });
}
