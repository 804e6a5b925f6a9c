import { ConflictError, NotFoundError } from '../../errors.js';
import { TOKEN_COLUMNS, auditFromRow, auditListSql, checkRole, logPathsOf, pruneSql, tokenFromRow } from '../access-sql.js';
import type { ApiToken, AuditEntry, AuditFilter, NewApiToken, NewAuditEntry, PruneRequest, PruneResult } from '../types.js';
import type { SqliteDb } from './db.js';

/** Tokens, audit log and retention on SQLite; SqliteStore delegates here. */
export class SqliteAccess {
  constructor(private readonly sql: SqliteDb) {}

  createToken(t: NewApiToken): ApiToken {
    checkRole(t.role);
    return this.sql.write(() => {
      if (this.sql.get('SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL', t.name)) {
        throw new ConflictError(`a token named "${t.name}" already exists: revoke it first or pick another name`);
      }
      const row = this.sql.get(
        `INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?) RETURNING ${TOKEN_COLUMNS}`,
        t.name,
        t.role,
        t.hash,
        t.now,
      );
      return tokenFromRow(row!);
    });
  }

  findToken(hash: string): ApiToken | null {
    const row = this.sql.get(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE hash = ? AND revoked_at IS NULL`, hash);
    return row ? tokenFromRow(row) : null;
  }

  listTokens(): ApiToken[] {
    return this.sql.all(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY id`).map(tokenFromRow);
  }

  revokeToken(name: string, now: number): ApiToken {
    const row = this.sql.get(`UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`, now, name);
    if (!row) throw new NotFoundError('token', name);
    return tokenFromRow(row);
  }

  appendAudit(e: NewAuditEntry): AuditEntry {
    const row = this.sql.get(
      'INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?) RETURNING *',
      e.at,
      e.actor,
      e.action,
      e.target,
      e.detail,
    );
    return auditFromRow(row!);
  }

  listAudit(filter: AuditFilter): AuditEntry[] {
    const { sql, params } = auditListSql(filter);
    return this.sql.all(sql, ...params).map(auditFromRow);
  }

  pruneRuns(req: PruneRequest): PruneResult {
    const q = pruneSql(req);
    if (!q) return { deleted: 0, logPaths: [] };
    const rows = this.sql.write(() => this.sql.all(q.sql, ...q.params));
    return { deleted: rows.length, logPaths: logPathsOf(rows) };
  }
}
