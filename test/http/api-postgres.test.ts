import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { waitFor } from '../helpers/wait.js';
import { call, startApiNode, type ApiNode } from './harness.js';
import { PG_ADMIN_URL } from '../helpers/pg.js';

const URL = PG_ADMIN_URL;
const schema = `cf_http_${randomBytes(4).toString('hex')}`;
let store: Store;
let api: ApiNode;

beforeAll(async () => {
  store = await openStore(URL, { schema });
  await store.migrate();
  api = await startApiNode(
    `
schedules:
  - { name: hello, cron: "0 0 1 1 *", task: hello }
  - { name: fail, cron: "0 0 1 1 *", task: fail }
`,
    '',
    { store },
  );
});

afterAll(async () => {
  await api?.stop();
  await store?.close();
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
});

describe('the API on a PostgreSQL store', () => {
  it('lists runs with filters and id-cursor pages, and tokens and audit work there', async () => {
    const ids: number[] = [];
    for (const s of ['hello', 'fail', 'hello', 'fail', 'hello']) {
      const r = await call(api.url, 'POST', `/api/v1/schedules/${s}/trigger`, api.tokens.operator);
      expect(r.status).toBe(201);
      ids.push(r.body.runs[0].id);
    }
    await waitFor('all five runs to finish', async () => {
      const page = await call(api.url, 'GET', '/api/v1/runs?status=queued,running', api.tokens.viewer);
      return page.body.runs.length === 0;
    }, 30_000);

    const all = await call(api.url, 'GET', '/api/v1/runs', api.tokens.viewer);
    expect(all.body.runs.map((r: { id: number }) => r.id)).toEqual([...ids].reverse());
    const failed = await call(api.url, 'GET', '/api/v1/runs?status=failed', api.tokens.viewer);
    expect(failed.body.runs.map((r: { id: number; exitCode: number }) => [r.id, r.exitCode])).toEqual([
      [ids[3], 3],
      [ids[1], 3],
    ]);
    const hello = await call(api.url, 'GET', '/api/v1/runs?schedule=hello&limit=2', api.tokens.viewer);
    expect(hello.body.runs.map((r: { id: number }) => r.id)).toEqual([ids[4], ids[2]]);
    const more = await call(api.url, 'GET', `/api/v1/runs?schedule=hello&limit=2&before=${hello.body.next}`, api.tokens.viewer);
    expect(more.body).toEqual({ runs: [expect.objectContaining({ id: ids[0] })], next: null });
    const byNode = await call(api.url, 'GET', '/api/v1/runs?node=api-test&from=2020-01-01T00:00:00Z', api.tokens.viewer);
    expect(byNode.body.runs).toHaveLength(5);

    const audit = await call(api.url, 'GET', '/api/v1/audit', api.tokens.admin);
    expect(audit.body.entries.filter((e: { action: string }) => e.action === 'schedule.trigger')).toHaveLength(5);
    expect((await call(api.url, 'GET', '/api/v1/runs', 'cf_bogus')).status).toBe(401);
  });
});
