/** Why a run was swept to `lost`, worded once for both stores (the run's `reason`). */

export const leaseExpiredReason = (node: string, leaseUntil: number): string =>
  `lease expired at ${new Date(leaseUntil).toISOString()}: node "${node}" stopped renewing it`;

export const deadNodeReason = (node: string, heartbeatAt: number, nodeTtlMs: number): string =>
  `node "${node}" is dead: no heartbeat since ${new Date(heartbeatAt).toISOString()} (node TTL ${nodeTtlMs} ms)`;

export const deadTargetReason = (node: string, nodeTtlMs: number): string => `target node "${node}" is dead: no heartbeat for ${nodeTtlMs} ms`;
