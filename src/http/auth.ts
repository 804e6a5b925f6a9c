import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';
import { ROLES, type ApiToken, type Role } from '../store/types.js';
import { ApiError } from './errors.js';

/** Tokens carry a prefix so a leaked one is recognisable in logs and secret scanners. */
const PREFIX = 'cf_';

/** A new random token (32 bytes) and the hash the store keeps of it. */
export function newToken(): { token: string; hash: string } {
  const token = PREFIX + randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** sha256 is enough here: the token is 256 random bits, so there is nothing to brute-force. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/**
 * Live tokens recently found, by hash, so a busy client costs one store query per TTL rather than
 * one per request. Revoking through this node's API clears it at once; a revocation made
 * elsewhere (CLI, another node) takes effect here within TOKEN_CACHE_MS.
 */
export const TOKEN_CACHE_MS = 2_000;

export class TokenCache {
  private readonly entries = new Map<string, { token: ApiToken; until: number }>();

  get(hash: string, now: number): ApiToken | null {
    const e = this.entries.get(hash);
    if (!e) return null;
    if (e.until > now) return e.token;
    this.entries.delete(hash);
    return null;
  }

  put(hash: string, token: ApiToken, now: number): void {
    // A flood of distinct live tokens is not a real workload; forgetting everything is fine.
    if (this.entries.size >= 1_000) this.entries.clear();
    this.entries.set(hash, { token, until: now + TOKEN_CACHE_MS });
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The token named by an `Authorization: Bearer ...` header: 401 when absent, malformed, unknown or revoked. */
export async function authenticate(store: Store, header: string | undefined, cache?: TokenCache): Promise<ApiToken> {
  if (!header) throw new ApiError(401, 'CF_ERR_UNAUTHORIZED', 'expected an Authorization: Bearer <token> header (create a token with `cronfleet token create`)', 'headers.authorization');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new ApiError(401, 'CF_ERR_UNAUTHORIZED', 'expected the Authorization header in the form "Bearer <token>"', 'headers.authorization');
  const hash = hashToken(m[1]!);
  const now = Date.now();
  const cached = cache?.get(hash, now);
  if (cached) return cached;
  const token = await store.findToken(hash);
  if (token) cache?.put(hash, token, now);
  if (!token) throw new ApiError(401, 'CF_ERR_UNAUTHORIZED', 'the token is unknown or revoked', 'headers.authorization');
  return token;
}

export function authorize(token: ApiToken, need: Role): void {
  if (!roleAtLeast(token.role, need)) {
    throw new ApiError(403, 'CF_ERR_FORBIDDEN', `this needs the ${need} role; token "${token.name}" has ${token.role}`, null);
  }
}
