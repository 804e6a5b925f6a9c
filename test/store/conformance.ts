import { afterAll, afterEach, beforeEach, describe } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { Storage, StoreHarness } from './fixtures.js';
import { accessSuite } from './conformance/access.js';
import { concurrencySuite } from './conformance/concurrency.js';
import { deferredSuite } from './conformance/deferred.js';
import { firesSuite } from './conformance/fires.js';
import { leasesSuite } from './conformance/leases.js';
import { nodesSuite } from './conformance/nodes.js';
import { runsSuite } from './conformance/runs.js';
import { schedulesSuite } from './conformance/schedules.js';

/** What each section of the suite sees: a store on fresh storage, and more connections to it. */
export interface SuiteContext {
  store: Store;
  storage: Storage;
  /** Another store on the same storage (its own connection), closed after the test. */
  open(): Promise<Store>;
}

/**
 * Registers the whole Store conformance suite. Every backend runs exactly these tests; each test
 * gets fresh storage from the harness and passes `now` explicitly.
 */
export function defineStoreConformance(name: string, harness: StoreHarness): void {
  describe(`Store conformance: ${name}`, () => {
    const opened: Store[] = [];
    const ctx = {
      async open() {
        const s = await ctx.storage.open();
        opened.push(s);
        return s;
      },
    } as SuiteContext;

    beforeEach(async () => {
      ctx.storage = await harness.storage();
      ctx.store = await ctx.open();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    afterAll(() => harness.cleanup());

    schedulesSuite(ctx);
    firesSuite(ctx);
    runsSuite(ctx);
    nodesSuite(ctx);
    leasesSuite(ctx);
    concurrencySuite(ctx);
    deferredSuite(ctx);
    accessSuite(ctx);
  });
}
