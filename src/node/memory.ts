/**
 * The V8 heap profile of a long-running node. V8's defaults suit short bursts: its young
 * generation grows to 32 MB and stays there, and the old generation grows to two to four times
 * what survived its last collection before collecting again. A node that fires 1,000 runs a
 * second allocates steadily and keeps little, so with the defaults 10,000 schedules held
 * 131-147 MB (bench/lateness); `lean` bounds the young generation at 16 MB and grows the old
 * one by half of what survives, at unchanged lateness. `v8` leaves V8's sizing alone.
 *
 * Both are V8 flags that V8 reads each time it resizes a generation, so they take effect when
 * set at run time; `serve` applies its config's profile as soon as it has read it. The bound is
 * checked after collections, which V8 reports asynchronously: a long synchronous stretch of
 * allocation may overshoot it by one resize.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

export type MemoryProfile = 'lean' | 'v8';

/** The young generation (both semi-spaces) stops growing at this size. */
export const LEAN_YOUNG_GENERATION_BYTES = 16 * 1024 * 1024;
/** After a full collection, the old generation may grow by this share of what survived. */
export const LEAN_OLD_GROWTH_PERCENT = 50;
const youngGenerationBytes = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

/** Applies a profile to this process, once, at start (`v8` changes nothing). */
export function applyMemoryProfile(profile: MemoryProfile): void {
  if (profile === 'v8') return;
  v8.setFlagsFromString(`--heap-growing-percent=${LEAN_OLD_GROWTH_PERCENT}`);
  const capYoung = (): boolean => {
    if (youngGenerationBytes() < LEAN_YOUNG_GENERATION_BYTES) return false;
    // A growth factor of 1 keeps each resize at the current size.
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    return true;
  };
  if (capYoung()) return;
  // The young generation grows only at collections: look after each until it reaches the bound.
  const observer = new PerformanceObserver(() => {
    if (capYoung()) observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}

/**
 * One full collection once a node has started, under `lean`: loading and syncing a big config
 * leaves garbage in the old generation, and V8 sets its next limit from what it found there, so
 * without this the node carried the start-up's size (34 MB for 10,000 schedules, against 14 MB
 * kept) for as long as it ran. V8 exposes `gc` only behind a flag, set here for this one call.
 */
export function collectStartupGarbage(profile: MemoryProfile): void {
  if (profile !== 'lean') return;
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
}
