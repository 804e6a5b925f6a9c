import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface UserIdentity {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Splits one passwd(5) line; null when it is not one. */
function parsePasswdLine(line: string): UserIdentity | null {
  const f = line.split(':');
  if (f.length < 7) return null;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === '' || f[3] === '') return null;
  return { name: f[0]!, uid, gid, home: f[5]! };
}

function fromPasswdFile(user: string, byUid: boolean): UserIdentity | null {
  let text: string;
  try {
    text = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const entry = parsePasswdLine(line);
    if (entry && (byUid ? String(entry.uid) === user : entry.name === user)) return entry;
  }
  return null;
}

/** getent asks NSS, so users from LDAP or systemd-userdb resolve as they do for login. */
function fromGetent(user: string): UserIdentity | null {
  try {
    const out = execFileSync('getent', ['passwd', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    return parsePasswdLine(out.trim().split('\n')[0] ?? '');
  } catch {
    return null;
  }
}

/**
 * Resolves a user name or numeric uid to the identity a task runs under. /etc/passwd is read
 * first because it is cheap and holds the usual system users; getent covers the rest.
 * Returns null when the user is unknown to this host.
 */
export function resolveUser(user: string): UserIdentity | null {
  const byUid = /^\d+$/.test(user);
  return fromPasswdFile(user, byUid) ?? fromGetent(user);
}
