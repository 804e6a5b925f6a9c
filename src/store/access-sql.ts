import { ConfigError } from '../errors.js';
import { num, numOrNull, type Row } from './rows.js';
import { FINAL_STATUSES, ROLES, type ApiToken, type AuditEntry, type AuditFilter, type PruneRequest, type Role } from './types.js';

/**
 * SQL and row shapes for tokens, the audit log and retention, shared by both stores. Statements
 * are written with `?` and turned into `$n` for PostgreSQL by `pgParams`.
 */

export const TOKEN_COLUMNS = 'id, name, role, created_at, revoked_at';

export function tokenFromRow(r: Row): ApiToken {
  return {
    id: num(r.id),
    name: String(r.name),
    role: String(r.role) as Role,
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

export function auditFromRow(r: Row): AuditEntry {
  return {
    id: num(r.id),
    at: num(r.at),
    actor: String(r.actor),
    action: String(r.action),
    target: r.target === null || r.target === undefined ? null : String(r.target),
    detail: r.detail === null || r.detail === undefined ? null : String(r.detail),
  };
}

export function checkRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role)) throw new ConfigError('role', `"${role}" is not a role: expected one of ${ROLES.join(', ')}`);
  return role as Role;
}

export function auditListSql(filter: AuditFilter): { sql: string; params: number[] } {
  if (!Number.isInteger(filter.limit) || filter.limit < 1) {
    throw new ConfigError('limit', `${String(filter.limit)} is not a valid page size: expected a whole number >= 1`);
  }
  return filter.before === undefined
    ? { sql: 'SELECT * FROM audit_log ORDER BY id DESC LIMIT ?', params: [filter.limit] }
    : { sql: 'SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?', params: [filter.before, filter.limit] };
}

/**
 * The DELETE for a prune request, or null when it asks for nothing. Only finished runs go;
 * "keep the newest N per schedule" counts every run of the schedule, running ones included.
 */
export function pruneSql(req: PruneRequest): { sql: string; params: number[] } | null {
  const final = FINAL_STATUSES.map((s) => `'${s}'`).join(', ');
  const rules: string[] = [];
  const params: number[] = [];
  if (req.finishedBefore !== undefined) {
    rules.push('finished_at < ?');
    params.push(req.finishedBefore);
  }
  if (req.keepPerSchedule !== undefined) {
    if (!Number.isInteger(req.keepPerSchedule) || req.keepPerSchedule < 0) {
      throw new ConfigError('keepPerSchedule', `${String(req.keepPerSchedule)} is not a count: expected a whole number >= 0`);
    }
    rules.push('rn > ?');
    params.push(req.keepPerSchedule);
  }
  if (rules.length === 0) return null;
  const ranked =
    req.keepPerSchedule === undefined
      ? 'SELECT id, status, finished_at FROM runs'
      : 'SELECT id, status, finished_at, row_number() OVER (PARTITION BY schedule ORDER BY id DESC) AS rn FROM runs';
  return {
    sql: `DELETE FROM runs WHERE id IN (
      SELECT id FROM (${ranked}) ranked WHERE status IN (${final}) AND (${rules.join(' OR ')})
    ) RETURNING log_path`,
    params,
  };
}

/** `?` placeholders to PostgreSQL's `$1, $2, ...`. The statements here hold no `?` in literals. */
export function pgParams(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export function logPathsOf(rows: Row[]): string[] {
  return rows.map((r) => r.log_path).filter((p): p is string => typeof p === 'string' && p !== '');
}
