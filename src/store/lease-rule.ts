import type { LeaseRequest } from './types.js';
import { num, numOrNull, type Row } from './rows.js';

export interface LeaseState {
  name: string;
  holder: string | null;
  fence: number;
  expiresAt: number;
  priority: number;
  /** The highest-priority node that asked while the lease was held, and when it last asked. */
  contender: string | null;
  contenderPriority: number | null;
  contenderSeenAt: number | null;
}

export function leaseStateFromRow(r: Row): LeaseState {
  return {
    name: String(r.name),
    holder: r.holder === null ? null : String(r.holder),
    fence: num(r.fence),
    expiresAt: num(r.expires_at),
    priority: num(r.priority),
    contender: r.contender === null ? null : String(r.contender),
    contenderPriority: numOrNull(r.contender_priority),
    contenderSeenAt: numOrNull(r.contender_seen_at),
  };
}

/**
 * The lease after `req`, decided in one place for both stores (they read the row locked and
 * write the result). A live holder keeps the lease whatever the priority; a free or expired
 * lease goes to the asker unless a higher-priority node asked within the last `ttlMs`, in which
 * case it is left for that node. The fence grows each time the lease is taken by a new tenure,
 * so writes from an older holder can be told apart.
 */
export function decideLease(state: LeaseState | null, req: LeaseRequest): { state: LeaseState; held: boolean } {
  const expiresAt = req.now + req.ttlMs;
  if (!state) {
    return {
      state: { name: req.name, holder: req.holder, fence: 1, expiresAt, priority: req.priority, contender: null, contenderPriority: null, contenderSeenAt: null },
      held: true,
    };
  }
  const clearContender = state.contender === req.holder ? { contender: null, contenderPriority: null, contenderSeenAt: null } : {};
  const contenderLive =
    state.contender !== null && state.contenderSeenAt !== null && state.contenderSeenAt >= req.now - req.ttlMs;
  const liveHolder = state.holder !== null && state.expiresAt > req.now;
  const higherWaiting = contenderLive && state.contender !== req.holder && (state.contenderPriority ?? -Infinity) > req.priority;
  if (state.holder === req.holder && (liveHolder || !higherWaiting)) {
    // Renewal: even after expiry nobody else took it in between, so the tenure goes on.
    return { state: { ...state, ...clearContender, expiresAt, priority: req.priority }, held: true };
  }
  if (liveHolder) {
    const record =
      !contenderLive || state.contender === req.holder || req.priority > (state.contenderPriority ?? -Infinity);
    const next = record
      ? { ...state, contender: req.holder, contenderPriority: req.priority, contenderSeenAt: req.now }
      : state;
    return { state: next, held: false };
  }
  if (higherWaiting) return { state, held: false };
  return {
    state: {
      name: state.name,
      holder: req.holder,
      fence: state.fence + 1,
      expiresAt,
      priority: req.priority,
      contender: null,
      contenderPriority: null,
      contenderSeenAt: null,
    },
    held: true,
  };
}
