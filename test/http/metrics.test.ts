import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { call, startApiNode, type ApiNode } from './harness.js';

let open: ApiNode;
let closed: ApiNode;

beforeAll(async () => {
  open = await startApiNode(`
schedules:
  - { name: tick, every: 1s, task: hello }
  - { name: broken, cron: "0 0 1 1 *", task: fail }
`);
  closed = await startApiNode('', '', { metrics: 'token' });
}, 60_000);
afterAll(async () => {
  await open?.stop();
  await closed?.stop();
});

/** The value of one sample line, e.g. `cronfleet_nodes_alive` or `name{label="x"}`. */
function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : null;
}

describe('/metrics', () => {
  it('counts fires and runs by status, times runs, lateness and the store, and reports the cluster', async () => {
    const fire = await call(open.url, 'POST', '/api/v1/schedules/broken/trigger', open.tokens.operator);
    const failedId = fire.body.runs[0].id;
    await waitFor('the failing run and two ticks to finish', async () => {
      const failed = (await open.node.store.getRun(failedId))?.status === 'failed';
      const ticks = await open.node.store.listRuns({ schedule: 'tick', status: ['succeeded'], limit: 5 });
      return failed && ticks.length >= 2;
    }, 30_000);
    const res = await fetch(`${open.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sample(text, 'cronfleet_fires_total{schedule="tick",manual="false"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'cronfleet_runs_total{schedule="tick",status="succeeded"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'cronfleet_runs_total{schedule="broken",status="failed"}')).toBe(1);
    expect(sample(text, 'cronfleet_run_duration_seconds_count{task="hello"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'cronfleet_run_lateness_seconds_count{task="hello"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'cronfleet_nodes_alive')).toBe(1);
    expect(sample(text, 'cronfleet_node_clock_skew_seconds{node="api-test"}')).not.toBeNull();
    expect(sample(text, 'cronfleet_store_query_seconds_count{op="claimRuns"}')).toBeGreaterThan(0);
    expect(sample(text, 'cronfleet_runs_lost_total')).toBe(0);
    expect(sample(text, 'cronfleet_http_requests_total{route="/api/v1/schedules/:name/trigger",status="201"}')).toBe(1);
  });

  it('needs a viewer token when the config says metrics: token', async () => {
    expect((await fetch(`${closed.url}/metrics`)).status).toBe(401);
    const ok = await call(closed.url, 'GET', '/metrics', closed.tokens.viewer);
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('cronfleet_nodes_alive');
  });

  it('the example Grafana dashboard only queries metrics the node exports', async () => {
    const dash = JSON.parse(readFileSync(new URL('../../examples/grafana-dashboard.json', import.meta.url), 'utf8'));
    const text = await (await fetch(`${open.url}/metrics`)).text();
    const exported = new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
    const exprs: string[] = dash.panels.flatMap((p: { targets?: Array<{ expr: string }> }) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(5);
    for (const expr of exprs) {
      const names = expr.match(/cronfleet_[a-z_]+/g) ?? [];
      expect(names.length, expr).toBeGreaterThan(0);
      for (const n of names) expect(exported.has(n.replace(/_(bucket|count|sum)$/, '')), `${n} in ${expr}`).toBe(true);
    }
  });
});
