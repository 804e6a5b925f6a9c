import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../src/http/server.js';
import { call, startApiNode, type ApiNode } from './harness.js';

let api: ApiNode;

beforeAll(async () => {
  api = await startApiNode(`
schedules:
  - { name: hello, cron: "0 0 1 1 *", task: hello }
`);
});
afterAll(() => api?.stop());

const BODIES: unknown[] = [null, 0, -1, 'text', true, [], [null], {}, { name: null }, { name: 'x'.repeat(300) }, { __proto__: { admin: true } }, { constructor: { prototype: {} } }, { name: 'ok', cron: 12, task: ['a'] }, { draining: 'maybe' }, { role: 'root', name: 'n' }, '{"unterminated":', '\u0000\u0001'];
const QUERIES = ['?limit=-1', '?limit=1e9', '?before=0', '?status=', '?n=%00', '?from=9999-99-99', '?minutes=NaN', '?schedule=../../etc', '?stream=', '?x[y]=1', '?limit=1&limit=2'];

describe('malformed requests never crash the node', () => {
  it('answers every route with a 4xx error body for garbage bodies and queries', async () => {
    const paths = (url: string) => url.replace(':name', 'hello').replace(':id', '1');
    for (const r of API_ROUTES) {
      const path = paths(r.url);
      const token = api.tokens.admin;
      for (const body of r.method === 'GET' ? [undefined] : BODIES) {
        const res = await call(api.url, r.method, path, token, typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body));
        expect(res.status, `${r.method} ${path} ${JSON.stringify(body)}: ${res.text}`).toBeLessThan(500);
        if (res.status >= 400) {
          expect(res.body, `${r.method} ${path}`).toEqual({ code: expect.stringMatching(/^CF_ERR_/), message: expect.any(String), field: expect.toSatisfy((f: unknown) => f === null || typeof f === 'string') });
        }
      }
      for (const q of QUERIES) {
        const res = await call(api.url, r.method, path + q, token);
        expect(res.status, `${r.method} ${path}${q}: ${res.text}`).toBeLessThan(500);
      }
    }
    for (const weird of ['/api/v1/runs/99999999999999999999', '/api/v1/schedules/%E0%A4%A', '/api/v1/schedules/' + 'a'.repeat(5000), '/ui/../../../etc/passwd', '/ui/%2e%2e/%2e%2e/package.json', '/ui/app.js%00.html']) {
      const res = await call(api.url, 'GET', weird, api.tokens.viewer);
      expect(res.status, `${weird}: ${res.text}`).toBeGreaterThanOrEqual(400);
      expect(res.status, weird).toBeLessThan(500);
      expect(res.text).not.toContain('"name": "cronfleet"');
    }
    expect((await call(api.url, 'GET', '/healthz', null)).status).toBe(200);
    // Nothing was created by all that.
    expect((await api.node.store.listSchedules()).map((s) => s.name)).toEqual(['hello']);
  });

  it('serves the UI files and nothing else from disk', async () => {
    const index = await call(api.url, 'GET', '/', null);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(index.text).toContain('<script type="module" src="/ui/app.js">');
    const js = await call(api.url, 'GET', '/ui/app.js', null);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await call(api.url, 'GET', '/ui/missing.js', null)).status).toBe(404);
    expect((await call(api.url, 'GET', '/ui/../server.ts', null)).status).toBe(404);
  });
});
