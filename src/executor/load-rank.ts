import type { NodeRecord } from '../store/types.js';

/**
 * How many live peers hold fewer runs than this node: 0 means nobody is less loaded and it
 * claims at once. Peers count when they are live (heartbeat within the node TTL), not draining,
 * and offer at least one of this node's tasks. All counts come from the same store snapshot,
 * so nodes judge each other alike; equally loaded nodes all claim at once.
 */
export function loadRank(self: string, nodes: NodeRecord[], now: number, nodeTtlMs: number): number {
  const me = nodes.find((n) => n.name === self);
  if (!me) return 0;
  const mine = new Set(me.tasks);
  let rank = 0;
  for (const n of nodes) {
    if (n.name === self || n.draining || now - n.heartbeatAt > nodeTtlMs) continue;
    if (n.running < me.running && n.tasks.some((t) => mine.has(t))) rank++;
  }
  return rank;
}
