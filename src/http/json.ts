import { runToJson, iso } from '../cli/context.js';
import { nodeToJson } from '../cli/nodes.js';
import type { ApiToken, AuditEntry, NodeRecord, Run } from '../store/types.js';

/** API bodies reuse the CLI's --json shapes, so a script can switch between them freely. */

export function runJson(r: Run) {
  return { ...runToJson(r), cancelRequested: r.cancelRequested };
}

export function nodeJson(n: NodeRecord, now: number, ttlMs: number) {
  return nodeToJson(n, now, ttlMs);
}

export function tokenJson(t: ApiToken) {
  return { id: t.id, name: t.name, role: t.role, createdAt: iso(t.createdAt)!, revokedAt: iso(t.revokedAt) };
}

export function auditJson(e: AuditEntry) {
  let detail: unknown = null;
  if (e.detail !== null) {
    try {
      detail = JSON.parse(e.detail);
    } catch {
      detail = e.detail;
    }
  }
  return { id: e.id, at: iso(e.at)!, actor: e.actor, action: e.action, target: e.target, detail };
}
