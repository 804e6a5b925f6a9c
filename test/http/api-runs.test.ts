import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run } from '../../src/store/types.js';
import { waitFor } from '../helpers/wait.js';
import { call, startApiNode, type ApiNode } from './harness.js';

let api: ApiNode;
const viewer = () => api.tokens.viewer;

beforeAll(async () => {
  api = await startApiNode(`
schedules:
  - { name: hello, cron: "0 0 1 1 *", task: hello }
  - { name: slow, cron: "0 0 1 1 *", task: slow }
  - { name: nap, cron: "0 0 1 1 *", task: nap }
  - { name: fail, cron: "0 0 1 1 *", task: fail }
`);
});
afterAll(() => api?.stop());

async function trigger(schedule: string): Promise<number> {
  const r = await call(api.url, 'POST', `/api/v1/schedules/${schedule}/trigger`, api.tokens.operator);
  expect(r.status).toBe(201);
  return r.body.runs[0].id;
}

const finished = (id: number) =>
  waitFor(`run ${id} to finish`, async () => {
    const r = await api.node.store.getRun(id);
    return r && !['queued', 'running'].includes(r.status) ? r : null;
  }, 30_000);

/** Reads an SSE response to its end: the events in order. */
async function readEvents(res: Response): Promise<Array<{ event: string; data: any }>> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [ev, data] = block.split('\n');
      return { event: ev!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) };
    });
}

describe('runs', () => {
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    for (const s of ['hello', 'fail', 'hello']) {
      const id = await trigger(s);
      await finished(id);
      ids[s] = id;
    }
  });

  it('lists newest first with filters and id-cursor pages', async () => {
    const all = await call(api.url, 'GET', '/api/v1/runs', viewer());
    expect(all.status).toBe(200);
    const listed = all.body.runs.map((r: { id: number }) => r.id);
    expect(listed).toEqual([...listed].sort((a, b) => b - a));
    expect(all.body.next).toBeNull();

    const hello = await call(api.url, 'GET', '/api/v1/runs?schedule=hello', viewer());
    expect(hello.body.runs.every((r: { schedule: string }) => r.schedule === 'hello')).toBe(true);
    expect(hello.body.runs).toHaveLength(2);

    const failed = await call(api.url, 'GET', '/api/v1/runs?status=failed,timed_out', viewer());
    expect(failed.body.runs.map((r: { id: number; exitCode: number }) => [r.id, r.exitCode])).toEqual([[ids.fail, 3]]);
    expect((await call(api.url, 'GET', '/api/v1/runs?node=api-test', viewer())).body.runs.length).toBe(3);
    expect((await call(api.url, 'GET', '/api/v1/runs?node=elsewhere', viewer())).body.runs).toEqual([]);

    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await call(api.url, 'GET', `/api/v1/runs?from=${future}`, viewer())).body.runs).toEqual([]);
    expect((await call(api.url, 'GET', `/api/v1/runs?to=${future}`, viewer())).body.runs.length).toBe(3);

    const page1 = await call(api.url, 'GET', '/api/v1/runs?limit=2', viewer());
    expect(page1.body.runs).toHaveLength(2);
    expect(page1.body.next).toBe(page1.body.runs[1].id);
    const page2 = await call(api.url, 'GET', `/api/v1/runs?limit=2&before=${page1.body.next}`, viewer());
    expect([...page1.body.runs, ...page2.body.runs].map((r: { id: number }) => r.id)).toEqual(listed);
  });

  it('refuses bad filters naming the query field', async () => {
    for (const [q, field, msg] of [
      ['status=broken', 'query.status', /expected run statuses.*succeeded/],
      ['limit=0', 'query.limit', /page size: a whole number from 1 to 500/],
      ['limit=501', 'query.limit', /from 1 to 500/],
      ['before=-3', 'query.before', /run id/],
      ['from=2026-13-45', 'query.from', /ISO 8601/],
      ['status=failed&status=lost', 'query.status', /.+/],
      ['sort=asc', 'query', /unknown field "sort"/],
    ] as const) {
      const r = await call(api.url, 'GET', `/api/v1/runs?${q}`, viewer());
      expect(r.status, q).toBe(400);
      expect(r.body.field, q).toBe(field);
      expect(r.body.message, q).toMatch(msg);
    }
  });

  it('gets one run, its output tails and its full log; unknown ids are 404', async () => {
    const one = await call(api.url, 'GET', `/api/v1/runs/${ids.fail}`, viewer());
    expect(one.body).toMatchObject({ id: ids.fail, schedule: 'fail', status: 'failed', exitCode: 3, attempt: 1, manual: true });
    const out = await call(api.url, 'GET', `/api/v1/runs/${ids.hello}/output`, viewer());
    expect(out.body).toEqual({ stdout: 'hello\n', stderr: 'oops\n' });
    expect((await call(api.url, 'GET', `/api/v1/runs/${ids.hello}/output?stream=stderr`, viewer())).body).toEqual({ stderr: 'oops\n' });
    expect((await call(api.url, 'GET', `/api/v1/runs/${ids.hello}/output?stream=all`, viewer())).body.field).toBe('query.stream');
    const log = await call(api.url, 'GET', `/api/v1/runs/${ids.hello}/log`, viewer());
    expect(log.status).toBe(200);
    expect(log.headers.get('content-disposition')).toBe(`attachment; filename="run-${ids.hello}.log"`);
    expect(log.text).toContain('hello');
    expect((await call(api.url, 'GET', '/api/v1/runs/999999', viewer())).status).toBe(404);
    expect((await call(api.url, 'GET', '/api/v1/runs/999999/log', viewer())).status).toBe(404);
    const bad = await call(api.url, 'GET', '/api/v1/runs/abc', viewer());
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('params.id');
  });

  it('a run whose log file is on another machine says where it is', async () => {
    const queued = await api.node.store.triggerSchedule('hello', { now: api.node.clock.now(), nodeTtlMs: 30_000, node: 'test' });
    const id = queued.runs[0]!.id;
    await finished(id);
    await api.node.store.setRunLogPath(id, '/nonexistent/elsewhere.log');
    const r = await call(api.url, 'GET', `/api/v1/runs/${id}/log`, viewer());
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ code: 'CF_ERR_LOG_ELSEWHERE', field: 'params.id' });
    expect(r.body.message).toMatch(/on node "api-test".*\/output/);
  });

  it('follows a running run as Server-Sent Events, ending with its final status', async () => {
    const id = await trigger('slow');
    const res = await fetch(`${api.url}/api/v1/runs/${id}/follow`, { headers: { authorization: `Bearer ${viewer()}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readEvents(res);
    const text = events.filter((e) => e.event === 'output' && e.data.stream === 'stdout').map((e) => e.data.text).join('');
    expect(text).toBe('line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\n');
    // Output arrived in several deltas while it ran, not all at the end.
    expect(events.filter((e) => e.event === 'output').length).toBeGreaterThan(2);
    expect(events.filter((e) => e.event === 'run').map((e) => e.data.status)).toContain('running');
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'succeeded', run: { id, exitCode: 0 } } });

    // A finished run gives its output and the end at once.
    const again = await readEvents(await fetch(`${api.url}/api/v1/runs/${id}/follow`, { headers: { authorization: `Bearer ${viewer()}` } }));
    expect(again.map((e) => e.event)).toEqual(['run', 'output', 'end']);
    expect((await fetch(`${api.url}/api/v1/runs/${id}/follow`)).status).toBe(401);
  });

  it('cancels a running run (its node stops it) and refuses to cancel a finished one', async () => {
    const id = await trigger('nap');
    await waitFor('the nap run to start', async () => (await api.node.store.getRun(id))?.status === 'running');
    const r = await call(api.url, 'POST', `/api/v1/runs/${id}/cancel`, api.tokens.operator);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, cancelRequested: true });
    const done: Run = await finished(id);
    expect(done.status).toBe('cancelled');
    expect(done.reason).toContain('test-operator');
    const again = await call(api.url, 'POST', `/api/v1/runs/${id}/cancel`, api.tokens.operator);
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/already cancelled/);
    const audit = await call(api.url, 'GET', '/api/v1/audit?limit=5', api.tokens.admin);
    expect(audit.body.entries.find((e: { action: string }) => e.action === 'run.cancel')).toMatchObject({ actor: 'test-operator', target: String(id) });
  });
});

describe('nodes', () => {
  it('lists the node with liveness, tasks, tags and skew, and drains it', async () => {
    const r = await call(api.url, 'GET', '/api/v1/nodes', viewer());
    expect(r.body).toEqual([
      expect.objectContaining({ name: 'api-test', alive: true, draining: false, tags: ['eu'], tasks: ['hello', 'slow', 'nap', 'fail', 'flaky', 'gate'], clockSkewMs: expect.any(Number) }),
    ]);
    expect(r.body[0].heartbeatAgeMs).toBeLessThan(5_000);
    const drained = await call(api.url, 'POST', '/api/v1/nodes/api-test/drain', api.tokens.operator);
    expect(drained.body.draining).toBe(true);
    expect((await api.node.store.listNodes())[0]!.draining).toBe(true);
    const undrained = await call(api.url, 'POST', '/api/v1/nodes/api-test/drain', api.tokens.operator, { draining: false });
    expect(undrained.body.draining).toBe(false);
    expect((await call(api.url, 'POST', '/api/v1/nodes/ghost/drain', api.tokens.operator)).status).toBe(404);
    const bad = await call(api.url, 'POST', '/api/v1/nodes/api-test/drain', api.tokens.operator, { draining: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('body.draining');
  });

  it('a node whose heartbeat is older than nodeTtl is shown dead', async () => {
    const t = api.node.clock.now() - 10 * 60_000;
    await api.node.store.registerNode({ name: 'gone', host: 'gone.example', pid: 1, version: '0', tasks: ['hello'], tags: [], startedAt: t }, t);
    const r = await call(api.url, 'GET', '/api/v1/nodes', viewer());
    expect(r.body.find((n: { name: string }) => n.name === 'gone')).toMatchObject({ alive: false });
  });
});
