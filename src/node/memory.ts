/**
 * The V8 heap profile of a long-running node. V8's defaults suit short bursts: its young
 * generation grows to 32 MB and stays there, and the old generation grows to two to four times
 * what survived its last collection before collecting again. A node that fires 1,000 runs a
 * second allocates steadily and keeps little, so with the defaults 10,000 schedules held
 * 131-147 MB; `lean` bounds the young generation and grows the old one by half of what
 * survives, for 113-114 MB at unchanged lateness (bench/lateness). `v8` leaves V8 alone.
 *
 * Both are V8 flags that V8 reads each time it resizes a generation, so they take effect when
 * set at run time; a flag given on the command line (`node --max-semi-space-size=...`) still
 * bounds what `lean` allows.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import * as v8 from 'node:v8';

export type MemoryProfile = 'lean' | 'v8';

/** The young generation (both semi-spaces) stops growing at this size. */
export const LEAN_YOUNG_GENERATION_BYTES = 16 * 1024 * 1024;
/** After a full collection, the old generation may grow by this share of what survived. */
export const LEAN_OLD_GROWTH_PERCENT = 50;

const youngGenerationBytes = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

/**
 * Applies a profile to this process. Returns a function that stops watching the young
 * generation (it stops by itself once the bound is reached).
 */
export function applyMemoryProfile(profile: MemoryProfile): () => void {
  if (profile === 'v8') return () => {};
  v8.setFlagsFromString(`--heap-growing-percent=${LEAN_OLD_GROWTH_PERCENT}`);
  const capYoung = (): boolean => {
    if (youngGenerationBytes() < LEAN_YOUNG_GENERATION_BYTES) return false;
    // A growth factor of 1 keeps each resize at the current size.
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    return true;
  };
  if (capYoung()) return () => {};
  // The young generation grows only at collections: look after each until it reaches the bound.
  const observer = new PerformanceObserver(() => {
    if (capYoung()) observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
