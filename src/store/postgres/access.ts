import { ConflictError, NotFoundError } from '../../errors.js';
import { TOKEN_COLUMNS, auditFromRow, auditListSql, checkRole, logPathsOf, pgParams, pruneSql, tokenFromRow } from '../access-sql.js';
import type { ApiToken, AuditEntry, AuditFilter, NewApiToken, NewAuditEntry, PruneRequest, PruneResult } from '../types.js';
import type { PgDb } from './db.js';

/** Tokens, audit log and retention on PostgreSQL; PostgresStore delegates here. */
export class PgAccess {
  constructor(private readonly db: PgDb) {}

  async createToken(t: NewApiToken): Promise<ApiToken> {
    checkRole(t.role);
    try {
      const [row] = await this.db.query(
        `INSERT INTO api_tokens (name, role, hash, created_at) VALUES ($1, $2, $3, $4) RETURNING ${TOKEN_COLUMNS}`,
        [t.name, t.role, t.hash, t.now],
      );
      return tokenFromRow(row!);
    } catch (err) {
      // The partial unique index on live names decides, so two creators racing cannot both win.
      if ((err as { code?: string; constraint?: string }).constraint === 'api_tokens_live_name') {
        throw new ConflictError(`a token named "${t.name}" already exists: revoke it first or pick another name`);
      }
      throw err;
    }
  }

  async findToken(hash: string): Promise<ApiToken | null> {
    const [row] = await this.db.query(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL`, [hash]);
    return row ? tokenFromRow(row) : null;
  }

  async listTokens(): Promise<ApiToken[]> {
    return (await this.db.query(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY id`)).map(tokenFromRow);
  }

  async revokeToken(name: string, now: number): Promise<ApiToken> {
    const [row] = await this.db.query(
      `UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`,
      [now, name],
    );
    if (!row) throw new NotFoundError('token', name);
    return tokenFromRow(row);
  }

  async appendAudit(e: NewAuditEntry): Promise<AuditEntry> {
    const [row] = await this.db.query('INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5) RETURNING *', [
      e.at,
      e.actor,
      e.action,
      e.target,
      e.detail,
    ]);
    return auditFromRow(row!);
  }

  async listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    const { sql, params } = auditListSql(filter);
    return (await this.db.query(pgParams(sql), params)).map(auditFromRow);
  }

  async pruneRuns(req: PruneRequest): Promise<PruneResult> {
    const q = pruneSql(req);
    if (!q) return { deleted: 0, logPaths: [] };
    const rows = await this.db.query(pgParams(q.sql), q.params);
    return { deleted: rows.length, logPaths: logPathsOf(rows) };
  }
}
