import type { Store } from '../../src/store/store.js';
import type { FireOptions, NodeInfo, ScheduleSpec } from '../../src/store/types.js';

/** A storage area that can be opened several times (several connections to one database). */
export interface Storage {
  /** A migrated store on this storage, with its own connection. */
  open(): Promise<Store>;
}

export interface StoreHarness {
  /** Fresh, empty storage. */
  storage(): Promise<Storage>;
  /** Removes everything the harness made (files, schemas). */
  cleanup(): Promise<void>;
}

/** Instants used across the suite: an arbitrary fixed minute, far from any epoch edge. */
export const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
export const MIN = 60_000;
/** Node liveness window for fires: long enough that nodes registered at T0 stay live through a test. */
export const TTL = 60 * MIN;

export function spec(name: string, over: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return {
    name,
    expr: '* * * * *',
    timezone: 'UTC',
    task: 'work',
    target: { kind: 'any' },
    concurrency: 'allow',
    misfire: 'run-once',
    misfireLimit: 10,
    retries: { max: 0, backoffMs: 1000 },
    timeoutMs: null,
    jitterMs: 0,
    source: 'config',
    ...over,
  };
}

export function nodeInfo(name: string, tasks: string[] = ['work'], tags: string[] = []): NodeInfo {
  return { name, host: `${name}.example`, pid: 100, version: '0.1.0', tasks, tags, startedAt: T0 - 1000 };
}

export function fireOpts(now: number, node = 'n1'): FireOptions {
  return { now, nodeTtlMs: TTL, node };
}

/** One fire per instant, cursor from `from` to the last of them. */
export function plan(schedule: string, from: number | null, instants: number[], skipReason?: string) {
  return {
    schedule,
    fromCursor: from,
    toCursor: instants[instants.length - 1] ?? from ?? T0,
    fires: instants.map((at) => ({ scheduledAt: at, notBefore: at, ...(skipReason ? { skipReason } : {}) })),
  };
}
