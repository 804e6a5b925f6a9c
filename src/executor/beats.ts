/**
 * Whether a span renewed by heartbeats (a lease, a node's TTL) survives one late beat: it must
 * last at least two heartbeats, or a beat that comes a little late loses every run it covers, or
 * has a live node taken for dead. Serve's config and gearman-worker's options both check it.
 */
export function outlastsLateBeat(spanMs: number, heartbeatMs: number): boolean {
  return spanMs >= 2 * heartbeatMs;
}
