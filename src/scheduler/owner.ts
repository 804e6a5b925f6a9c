import { crc32 } from 'node:zlib';

/**
 * Which scheduler owns a schedule: rendezvous (highest random weight) hashing over the live
 * schedulers, so every node computes the same owner from the same peer list, and a node joining
 * or leaving moves only its own share.
 */
export function ownerOf(schedule: string, peers: readonly string[]): string | null {
  let best: string | null = null;
  let bestWeight = -1;
  for (const peer of peers) {
    const weight = crc32(`${peer}\u0000${schedule}`);
    if (weight > bestWeight || (weight === bestWeight && best !== null && peer < best)) {
      best = peer;
      bestWeight = weight;
    }
  }
  return best;
}
