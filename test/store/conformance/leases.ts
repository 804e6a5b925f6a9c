import { describe, expect, test } from 'vitest';
import type { SuiteContext } from '../conformance.js';
import { T0 } from '../fixtures.js';

const TTL = 10_000;

export function leasesSuite(ctx: SuiteContext): void {
  describe('leases', () => {
    const ask = (holder: string, now: number, priority = 0) => ctx.store.acquireLease({ name: 'leader', holder, ttlMs: TTL, priority, now });

    test('the first asker takes a free lease with fence 1, renews it, and others wait for expiry', async () => {
      expect(await ctx.store.getLease('leader')).toBeNull();
      expect(await ask('a', T0)).toEqual({ name: 'leader', holder: 'a', fence: 1, expiresAt: T0 + TTL, held: true });
      expect(await ask('b', T0 + 1, 99)).toEqual({ name: 'leader', holder: 'a', fence: 1, expiresAt: T0 + TTL, held: false });
      expect(await ask('a', T0 + 5000)).toMatchObject({ holder: 'a', fence: 1, expiresAt: T0 + 5000 + TTL, held: true });
      // b asked with a higher priority, but its ask is older than the TTL when the lease expires.
      expect(await ask('c', T0 + 5000 + TTL + 1)).toMatchObject({ holder: 'c', fence: 2, held: true });
      expect(await ctx.store.getLease('leader')).toMatchObject({ holder: 'c', fence: 2, held: true });
    });

    test('an expired holder does not keep the lease from a higher-priority node waiting for it', async () => {
      await ask('low', T0, 1);
      await ask('high', T0 + TTL - 100, 5);
      // Expired now: the old holder asks first but the lease is left for the higher one.
      expect(await ask('low', T0 + TTL + 1, 1)).toMatchObject({ held: false });
      expect(await ask('high', T0 + TTL + 2, 5)).toMatchObject({ holder: 'high', held: true, fence: 2 });
    });

    test('a lower-priority node cannot take an expired lease a higher one is waiting for', async () => {
      await ask('holder', T0, 0);
      await ask('high', T0 + TTL - 100, 5);
      expect(await ask('low', T0 + TTL + 1, 1)).toMatchObject({ holder: 'holder', held: false });
      expect(await ask('high', T0 + TTL + 2, 5)).toMatchObject({ holder: 'high', held: true, fence: 2 });
    });

    test('release frees the lease for the next taker, whose fence is higher', async () => {
      await ask('a', T0);
      await ctx.store.releaseLease('leader', 'b'); // not the holder: no effect
      expect((await ctx.store.getLease('leader'))?.holder).toBe('a');
      await ctx.store.releaseLease('leader', 'a');
      expect(await ctx.store.getLease('leader')).toMatchObject({ holder: null, held: false, fence: 1 });
      expect(await ask('b', T0 + 1)).toMatchObject({ holder: 'b', fence: 2, held: true });
      await ctx.store.releaseLease('leader', 'b');
      expect(await ask('b', T0 + 2)).toMatchObject({ holder: 'b', fence: 3, held: true });
    });
  });
}
