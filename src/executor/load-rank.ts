import type { NodeRecord } from '../store/types.js';

/**
 * What a node's load is: the tasks it executes, as its heartbeat said; before it said, the runs it
 * holds. Runs held for a later instant are not load: a node that prepares two seconds of its
 * share of the fires ahead holds thousands, and counting them handed every run of the next
 * instants to whichever peer held fewer (one node ran all 6,000 fires of a second, 400 ms late).
 */
function load(n: NodeRecord): number {
  return n.executing ?? n.running ?? 0;
}

/**
 * How many live peers are less loaded than this node: 0 means nobody is less loaded and it
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
    if (load(n) < load(me) && n.tasks.some((t) => mine.has(t))) rank++;
  }
  return rank;
}
