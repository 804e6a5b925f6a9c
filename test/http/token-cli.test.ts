import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { TOKEN_CACHE_MS, hashToken } from '../../src/http/auth.js';
import { silentLogger } from '../../src/log/logger.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import { cli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { call } from './harness.js';

let dir: string;
let file: string;
let node: RunningNode | null = null;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-token-'));
  file = join(dir, 'cronfleet.yaml');
  writeFileSync(file, `node: { name: tok }\nstore: sqlite:./cf.db\nhttp: { listen: "127.0.0.1:0" }\ntasks: { hello: { builtin: noop } }\n`);
});
afterAll(async () => {
  await node?.stop(0);
  rmSync(dir, { recursive: true, force: true });
});

describe('cronfleet token', () => {
  it('create prints the token once, stores only its hash, and the API accepts it with its role', async () => {
    const made = cli(['token', 'create', '--role', 'operator', '--name', 'deploy-bot', '--config', file]);
    expect(made.stderr).toContain('shown only this once');
    expect(made.status).toBe(0);
    const token = made.stdout.trim();
    expect(token).toMatch(/^cf_[A-Za-z0-9_-]{43}$/);

    node = await startNode(loadConfigFile(file), { log: silentLogger() });
    const [stored] = await node.store.listTokens();
    expect(stored).toMatchObject({ name: 'deploy-bot', role: 'operator', revokedAt: null });
    expect(await node.store.findToken(hashToken(token))).toMatchObject({ name: 'deploy-bot' });
    expect(JSON.stringify(await node.store.listTokens())).not.toContain(token);

    expect((await call(node.http!.url, 'GET', '/api/v1/whoami', token)).body).toMatchObject({ name: 'deploy-bot', role: 'operator' });
    expect((await call(node.http!.url, 'GET', '/api/v1/tokens', token)).status).toBe(403);

    const list = cli(['token', 'list', '--json', '--config', file]);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: 'deploy-bot', role: 'operator', revokedAt: null })]);
    const revoked = cli(['token', 'revoke', 'deploy-bot', '--config', file]);
    expect(revoked.status).toBe(0);
    // Revoked from another process: this node stops accepting it once its token cache expires.
    const t0 = Date.now();
    await waitFor('the revoked token to be refused', async () => (await call(node!.http!.url, 'GET', '/api/v1/whoami', token)).status === 401, 10_000);
    expect(Date.now() - t0).toBeLessThan(TOKEN_CACHE_MS + 3_000);
    const audit = await node.store.listAudit({ limit: 5 });
    expect(audit.map((e) => [e.action, e.actor, e.target])).toEqual([
      ['token.revoke', 'cli@tok', 'deploy-bot'],
      ['token.create', 'cli@tok', 'deploy-bot'],
    ]);
  });

  it('refuses a bad role or name with exit status 2, and a taken name', () => {
    const role = cli(['token', 'create', '--role', 'root', '--name', 'x', '--config', file]);
    expect(role.status).toBe(2);
    expect(role.stderr).toMatch(/--role: "root" is not a role; expected one of viewer, operator, admin/);
    const name = cli(['token', 'create', '--role', 'viewer', '--name', 'has space', '--config', file]);
    expect(name.status).toBe(2);
    expect(name.stderr).toMatch(/--name/);
    expect(cli(['token', 'create', '--role', 'viewer', '--name', 'dup', '--config', file]).status).toBe(0);
    const dup = cli(['token', 'create', '--role', 'viewer', '--name', 'dup', '--config', file]);
    expect(dup.status).not.toBe(0);
    expect(dup.stderr).toMatch(/already exists/);
  });
});
