import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { call, startApiNode, type ApiNode } from './harness.js';

let api: ApiNode;
const admin = () => api.tokens.admin;

beforeAll(async () => {
  api = await startApiNode(`
schedules:
  - { name: cfg-hello, cron: "30 2 * * *", task: hello, timezone: America/New_York }
`);
});
afterAll(() => api?.stop());

describe('schedules', () => {
  it('lists and gets config schedules with their next instant; an unknown one is 404', async () => {
    const list = await call(api.url, 'GET', '/api/v1/schedules', api.tokens.viewer);
    expect(list.body).toEqual([expect.objectContaining({ name: 'cfg-hello', source: 'config', timezone: 'America/New_York', paused: false })]);
    const one = await call(api.url, 'GET', '/api/v1/schedules/cfg-hello', api.tokens.viewer);
    expect(one.body.next).toMatch(/^\d{4}-\d{2}-\d{2}T(06|07):30:00\.000Z$/);
    const missing = await call(api.url, 'GET', '/api/v1/schedules/nope', api.tokens.viewer);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ code: 'CF_ERR_NOT_FOUND', message: 'schedule "nope" does not exist', field: null });
    const badName = await call(api.url, 'GET', '/api/v1/schedules/-bad', api.tokens.viewer);
    expect(badName.status).toBe(400);
    expect(badName.body.field).toBe('params.name');
  });

  it('next?n=N comes from the time engine, in UTC and the schedule\'s zone, across a DST change', async () => {
    const r = await call(api.url, 'GET', '/api/v1/schedules/cfg-hello/next?n=3&from=2026-03-06T12:00:00Z', api.tokens.viewer);
    expect(r.status).toBe(200);
    // 2026-03-08 is spring-forward in New York: 02:30 does not exist and runs at 03:00 EDT.
    expect(r.body).toEqual({
      schedule: 'cfg-hello',
      timezone: 'America/New_York',
      instants: [
        { at: '2026-03-07T07:30:00.000Z', local: '2026-03-07T02:30:00-05:00' },
        { at: '2026-03-08T07:00:00.000Z', local: '2026-03-08T03:00:00-04:00' },
        { at: '2026-03-09T06:30:00.000Z', local: '2026-03-09T02:30:00-04:00' },
      ],
    });
    for (const [q, field] of [
      ['n=0', 'query.n'],
      ['n=abc', 'query.n'],
      ['n=5000', 'query.n'],
      ['from=yesterday', 'query.from'],
      ['count=3', 'query'],
    ] as const) {
      const bad = await call(api.url, 'GET', `/api/v1/schedules/cfg-hello/next?${q}`, api.tokens.viewer);
      expect(bad.status, q).toBe(400);
      expect(bad.body.code).toBe('CF_ERR_BAD_REQUEST');
      expect(bad.body.field, q).toBe(field);
      expect(bad.body.message).toMatch(/expected|unknown field/);
    }
  });

  it('config schedules are read-only through the API and say so', async () => {
    const put = await call(api.url, 'PUT', '/api/v1/schedules/cfg-hello', admin(), { name: 'cfg-hello', cron: '* * * * *', task: 'hello' });
    expect(put.status).toBe(409);
    expect(put.body).toMatchObject({ code: 'CF_ERR_CONFLICT', field: 'params.name' });
    expect(put.body.message).toMatch(/comes from the config file.*change it there/);
    const del = await call(api.url, 'DELETE', '/api/v1/schedules/cfg-hello', admin());
    expect(del.status).toBe(409);
    expect(del.body.message).toMatch(/remove it there/);
    const post = await call(api.url, 'POST', '/api/v1/schedules', admin(), { name: 'cfg-hello', cron: '* * * * *', task: 'hello' });
    expect(post.status).toBe(409);
    expect(post.body.field).toBe('body.name');
  });

  it('creates, updates and deletes an API schedule, and audits each change', async () => {
    const created = await call(api.url, 'POST', '/api/v1/schedules', admin(), { name: 'api-one', every: '10m', task: 'hello', concurrency: 'forbid' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'api-one', expr: '@every 10m', source: 'api', concurrency: 'forbid', timezone: 'Europe/Paris' });
    const updated = await call(api.url, 'PUT', '/api/v1/schedules/api-one', admin(), { name: 'api-one', cron: '15 4 * * *', task: 'hello', timezone: 'UTC' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ expr: '15 4 * * *', timezone: 'UTC', concurrency: 'allow' });
    expect((await api.node.store.getSchedule('api-one'))?.expr).toBe('15 4 * * *');
    expect((await call(api.url, 'DELETE', '/api/v1/schedules/api-one', admin())).status).toBe(204);
    expect(await api.node.store.getSchedule('api-one')).toBeNull();
    expect((await call(api.url, 'DELETE', '/api/v1/schedules/api-one', admin())).status).toBe(404);

    const audit = await call(api.url, 'GET', '/api/v1/audit?limit=3', admin());
    expect(audit.body.entries.map((e: { action: string; target: string; actor: string }) => [e.action, e.target, e.actor])).toEqual([
      ['schedule.delete', 'api-one', 'test-admin'],
      ['schedule.update', 'api-one', 'test-admin'],
      ['schedule.create', 'api-one', 'test-admin'],
    ]);
    expect(audit.body.entries[2].detail).toMatchObject({ every: '10m', task: 'hello' });
    expect(Date.parse(audit.body.entries[0].at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('rejects bad schedule bodies with the field and the expected form', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ name: 'x', cron: '61 * * * *', task: 'hello' }, 'body.cron', /minute/],
      [{ name: 'x', cron: '* * * * *', task: 'rm -rf /' }, 'body.task', /expected a name/],
      [{ name: 'x', cron: '* * * * *', task: 'not-offered' }, 'body.task', /not a task any node offers \(fail, flaky, gate, hello, nap, slow\)/],
      [{ name: 'x', task: 'hello' }, 'body.cron', /exactly one of cron or every/],
      [{ name: 'x', cron: '* * * * *', every: '1m', task: 'hello' }, 'body.cron', /exactly one of cron or every/],
      [{ name: 'x', cron: '* * * * *', task: 'hello', timezone: 'Mars/Base' }, 'body.timezone', /Mars\/Base/],
      [{ name: 'x', cron: '* * * * *', task: 'hello', concurrency: 'sometimes' }, 'body.concurrency', /allow, forbid or replace/],
      [{ name: 'x', cron: '* * * * *', task: 'hello', command: ['/bin/sh'] }, 'body', /unknown field "command"/],
      [{ name: 'x', every: 'soon', task: 'hello' }, 'body.every', /soon/],
      [{ cron: '* * * * *', task: 'hello' }, 'body.name', /is required/],
      [[1, 2], 'body', /expected object/],
    ];
    for (const [body, field, message] of cases) {
      const r = await call(api.url, 'POST', '/api/v1/schedules', admin(), body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code, JSON.stringify(body)).toMatch(/^CF_ERR_(BAD_REQUEST|CONFIG|CRON_SYNTAX)$/);
      expect(r.body.field, JSON.stringify(body)).toBe(field);
      expect(r.body.message, JSON.stringify(body)).toMatch(message);
    }
    const mismatch = await call(api.url, 'PUT', '/api/v1/schedules/a-name', admin(), { name: 'other', cron: '* * * * *', task: 'hello' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.field).toBe('body.name');
    expect(await api.node.store.getSchedule('x')).toBeNull();
  });

  it('malformed JSON, a wrong content type and an oversized body are refused without harm', async () => {
    const broken = await call(api.url, 'POST', '/api/v1/schedules', admin(), '{"name": ');
    expect(broken.status).toBe(400);
    expect(broken.body).toMatchObject({ code: 'CF_ERR_BAD_REQUEST', field: 'body' });
    const text = await call(api.url, 'POST', '/api/v1/schedules', admin(), 'name=x', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body.field).toBe('body');
    const huge = await call(api.url, 'POST', '/api/v1/schedules', admin(), { name: 'big', cron: '* * * * *', task: 'hello', pad: 'x'.repeat(10_000) });
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({ code: 'CF_ERR_BODY_TOO_LARGE', field: 'body' });
    expect(huge.body.message).toContain('4096');
    // The node is still serving.
    expect((await call(api.url, 'GET', '/healthz', null)).status).toBe(200);
  });

  it('pause, resume and trigger work and are audited; trigger runs the configured task', async () => {
    const paused = await call(api.url, 'POST', '/api/v1/schedules/cfg-hello/pause', api.tokens.operator);
    expect(paused.body).toMatchObject({ paused: true, next: null });
    expect((await api.node.store.getSchedule('cfg-hello'))?.paused).toBe(true);
    const resumed = await call(api.url, 'POST', '/api/v1/schedules/cfg-hello/resume', api.tokens.operator);
    expect(resumed.body.paused).toBe(false);
    const fired = await call(api.url, 'POST', '/api/v1/schedules/cfg-hello/trigger', api.tokens.operator);
    expect(fired.status).toBe(201);
    expect(fired.body.runs).toHaveLength(1);
    const id = fired.body.runs[0].id as number;
    const done = await waitFor('the triggered run to succeed', async () => {
      const r = await call(api.url, 'GET', `/api/v1/runs/${id}`, api.tokens.viewer);
      return r.body.status === 'succeeded' ? r.body : null;
    });
    expect(done).toMatchObject({ schedule: 'cfg-hello', task: 'hello', manual: true, node: 'api-test', exitCode: 0 });
    const audit = await call(api.url, 'GET', '/api/v1/audit?limit=50', admin());
    const mine = audit.body.entries.filter((e: { actor: string }) => e.actor === 'test-operator').map((e: { action: string }) => e.action);
    expect(mine.slice(0, 3)).toEqual(['schedule.trigger', 'schedule.resume', 'schedule.pause']);
    expect((await call(api.url, 'POST', '/api/v1/schedules/ghost/trigger', api.tokens.operator)).status).toBe(404);
  });

  it('upcoming lists the next hour\'s fires in order, skipping paused schedules', async () => {
    await call(api.url, 'POST', '/api/v1/schedules', admin(), { name: 'every-5m', every: '5m', task: 'hello' });
    const r = await call(api.url, 'GET', '/api/v1/upcoming?minutes=60', api.tokens.viewer);
    const fives = r.body.fires.filter((f: { schedule: string }) => f.schedule === 'every-5m');
    expect(fives.length).toBeGreaterThanOrEqual(11);
    expect(fives.length).toBeLessThanOrEqual(12);
    const times = r.body.fires.map((f: { at: string }) => Date.parse(f.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    await call(api.url, 'POST', '/api/v1/schedules/every-5m/pause', api.tokens.operator);
    const after = await call(api.url, 'GET', '/api/v1/upcoming', api.tokens.viewer);
    expect(after.body.fires.some((f: { schedule: string }) => f.schedule === 'every-5m')).toBe(false);
    expect((await call(api.url, 'GET', '/api/v1/upcoming?minutes=0', api.tokens.viewer)).body.field).toBe('query.minutes');
  });
});
