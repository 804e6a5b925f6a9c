/**
 * Stable hashing for `H` fields and jitter. Every node must derive the same numbers from the
 * same name, so this is plain arithmetic on the string: no Math.random, no process state.
 */

/** FNV-1a over UTF-16 code units, finished with murmur3's fmix32 so that names differing in
 * one trailing character (job-1, job-2) still land far apart. */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A number in [0, size) picked by `key`; `size` must be a positive integer below 2^32. */
export function hashPick(key: string, size: number): number {
  return hash32(key) % size;
}

/**
 * Offset in [0, jitterMs) for one fire, from (name, scheduledAt). Two 32-bit hashes make a
 * 53-bit fraction so jitter windows of days keep millisecond resolution without modulo bias.
 */
export function jitterOffset(name: string, scheduledAt: number, jitterMs: number): number {
  const span = Math.floor(jitterMs);
  if (!(span > 0)) return 0;
  const key = `${name}\u0000${scheduledAt}`;
  const hi = hash32(key);
  const lo = hash32(key, 0x9747b28c) >>> 11;
  const fraction = (hi * 2 ** 21 + lo) / 2 ** 53;
  return Math.min(span - 1, Math.floor(fraction * span));
}
