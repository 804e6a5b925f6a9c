import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/store/types.js';
import { call, startApiNode, type ApiNode } from './harness.js';

let api: ApiNode;

beforeAll(async () => {
  api = await startApiNode(`
schedules:
  - { name: cfg-hello, cron: "0 0 1 1 *", task: hello }
  - { name: cfg-nap, cron: "0 0 1 1 *", task: nap }
`);
});
afterAll(() => api?.stop());

interface Case {
  method: string;
  path: () => string | Promise<string>;
  role: Role;
  body?: unknown;
  ok: number;
}

let napRun = 0;
const cases: Case[] = [
  { method: 'GET', path: () => '/api/v1/schedules', role: 'viewer', ok: 200 },
  { method: 'GET', path: () => '/api/v1/schedules/cfg-hello', role: 'viewer', ok: 200 },
  { method: 'GET', path: () => '/api/v1/schedules/cfg-hello/next?n=2', role: 'viewer', ok: 200 },
  { method: 'GET', path: () => '/api/v1/upcoming', role: 'viewer', ok: 200 },
  { method: 'POST', path: () => '/api/v1/schedules', role: 'admin', body: { name: 'made-by-api', every: '1h', task: 'hello' }, ok: 201 },
  { method: 'PUT', path: () => '/api/v1/schedules/put-by-api', role: 'admin', body: { name: 'put-by-api', cron: '0 3 * * *', task: 'hello' }, ok: 200 },
  { method: 'DELETE', path: () => '/api/v1/schedules/made-by-api', role: 'admin', ok: 204 },
  { method: 'POST', path: () => '/api/v1/schedules/cfg-hello/pause', role: 'operator', ok: 200 },
  { method: 'POST', path: () => '/api/v1/schedules/cfg-hello/resume', role: 'operator', ok: 200 },
  { method: 'POST', path: () => '/api/v1/schedules/cfg-nap/trigger', role: 'operator', ok: 201 },
  { method: 'GET', path: () => '/api/v1/runs', role: 'viewer', ok: 200 },
  { method: 'GET', path: () => `/api/v1/runs/${napRun}`, role: 'viewer', ok: 200 },
  { method: 'GET', path: () => `/api/v1/runs/${napRun}/output`, role: 'viewer', ok: 200 },
  { method: 'POST', path: () => `/api/v1/runs/${napRun}/cancel`, role: 'operator', ok: 200 },
  { method: 'GET', path: () => '/api/v1/nodes', role: 'viewer', ok: 200 },
  { method: 'POST', path: () => '/api/v1/nodes/api-test/drain', role: 'operator', body: { draining: false }, ok: 200 },
  { method: 'GET', path: () => '/api/v1/whoami', role: 'viewer', ok: 200 },
  { method: 'GET', path: () => '/api/v1/tokens', role: 'admin', ok: 200 },
  { method: 'POST', path: () => '/api/v1/tokens', role: 'admin', body: { name: 'made-in-test', role: 'viewer' }, ok: 201 },
  { method: 'DELETE', path: () => '/api/v1/tokens/made-in-test', role: 'admin', ok: 200 },
  { method: 'GET', path: () => '/api/v1/audit', role: 'admin', ok: 200 },
];

const below: Record<Role, Role[]> = { viewer: [], operator: ['viewer'], admin: ['viewer', 'operator'] };

describe('every route and role', () => {
  it.each(cases)('$method $role route answers 401 without a valid token, 403 below its role, $ok at it', async (c) => {
    if (napRun === 0) {
      const fire = await call(api.url, 'POST', '/api/v1/schedules/cfg-nap/trigger', api.tokens.operator);
      napRun = fire.body.runs[0].id;
    }
    const path = await c.path();
    const none = await call(api.url, c.method, path, null, c.body);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'CF_ERR_UNAUTHORIZED', field: 'headers.authorization' });
    const bogus = await call(api.url, c.method, path, 'cf_not-a-real-token', c.body);
    expect(bogus.status).toBe(401);
    expect(bogus.body.message).toMatch(/unknown or revoked/);
    const malformed = await call(api.url, c.method, path, null, c.body, { authorization: 'Basic dXNlcjpwYXNz' });
    expect(malformed.status).toBe(401);
    for (const role of below[c.role]) {
      const r = await call(api.url, c.method, path, api.tokens[role], c.body);
      expect(r.status, `${role} on ${c.method} ${path}`).toBe(403);
      expect(r.body.code).toBe('CF_ERR_FORBIDDEN');
      expect(r.body.message).toContain(`needs the ${c.role} role`);
    }
    const ok = await call(api.url, c.method, path, api.tokens[c.role], c.body);
    expect(ok.status, `${c.role} on ${c.method} ${path}: ${ok.text}`).toBe(c.ok);
  });

  it('a higher role may do what a lower one may', async () => {
    for (const role of ['operator', 'admin'] as const) {
      expect((await call(api.url, 'GET', '/api/v1/runs?limit=1', api.tokens[role])).status).toBe(200);
    }
    expect((await call(api.url, 'POST', '/api/v1/schedules/cfg-hello/pause', api.tokens.admin)).status).toBe(200);
  });

  it('/healthz and the OpenAPI document are open', async () => {
    const h = await call(api.url, 'GET', '/healthz', null);
    expect(h.status).toBe(200);
    expect(h.body).toMatchObject({ status: 'ok', node: 'api-test', store: 'sqlite' });
    const doc = await call(api.url, 'GET', '/api/v1/openapi.json', null);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.0.3');
    // Every declared route is documented, with its role.
    for (const c of cases) {
      const path = (await c.path()).split('?')[0]!
        .replace(/\/runs\/\d+/, '/runs/{id}')
        .replace(/\/schedules\/(?!.*\/)[^/]+$/, '/schedules/{name}')
        .replace(/\/schedules\/[^/]+\//, '/schedules/{name}/')
        .replace(/\/nodes\/[^/]+\//, '/nodes/{name}/')
        .replace(/\/tokens\/[^/]+$/, '/tokens/{name}');
      const op = doc.body.paths[path]?.[c.method.toLowerCase()];
      expect(op, `${c.method} ${path}`).toBeDefined();
      expect(op['x-cronfleet-role']).toBe(c.role);
    }
    const list = doc.body.paths['/api/v1/runs'].get;
    expect(list.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['before', 'from', 'limit', 'node', 'schedule', 'status', 'task', 'to']);
    expect(doc.body.paths['/api/v1/schedules'].post.requestBody.content['application/json'].schema.properties.cron).toBeDefined();
  });

  it('a revoked token stops working at once', async () => {
    const made = await call(api.url, 'POST', '/api/v1/tokens', api.tokens.admin, { name: 'short-lived', role: 'operator' });
    expect(made.body.token).toMatch(/^cf_[A-Za-z0-9_-]{43}$/);
    expect((await call(api.url, 'GET', '/api/v1/whoami', made.body.token)).body).toEqual({ name: 'short-lived', role: 'operator', node: 'api-test' });
    // Only the hash is stored: the token itself appears nowhere in the listing.
    const list = await call(api.url, 'GET', '/api/v1/tokens', api.tokens.admin);
    expect(list.text).not.toContain(made.body.token);
    expect((await call(api.url, 'DELETE', '/api/v1/tokens/short-lived', api.tokens.admin)).status).toBe(200);
    expect((await call(api.url, 'GET', '/api/v1/whoami', made.body.token)).status).toBe(401);
  });
});
