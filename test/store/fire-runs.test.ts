import { describe, expect, test } from 'vitest';
import { isLive, planFireRuns, type NewFire, type NodeLiveness } from '../../src/store/fire-runs.js';
import { retryDelayMs, retryOf } from '../../src/store/retry.js';
import type { Run, Schedule } from '../../src/store/types.js';
import { T0, spec } from './fixtures.js';

function schedule(over: Partial<Schedule> = {}): Schedule {
  return { ...spec('s'), enabled: true, paused: false, cursor: T0, createdAt: T0, updatedAt: T0, ...over };
}
const live = (name: string, over: Partial<NodeLiveness> = {}): NodeLiveness => ({ name, tasks: ['work'], tags: [], heartbeatAt: T0, draining: false, ...over });
const fire = (s: Schedule, at: number, over: Partial<NewFire> = {}): NewFire => ({ schedule: s, scheduledAt: at, notBefore: at, manual: false, ...over });

describe('planFireRuns', () => {
  test('liveness: heartbeat within the TTL and not draining', () => {
    expect(isLive(live('a'), T0 + 100, 100)).toBe(true);
    expect(isLive(live('a'), T0 + 101, 100)).toBe(false);
    expect(isLive(live('a', { draining: true }), T0, 100)).toBe(false);
  });

  test('the node creating the fires counts as live however old its heartbeat (it is running this), unless draining', () => {
    const s = schedule();
    const stale = [live('me', { heartbeatAt: 0 }), live('other', { heartbeatAt: 0 })];
    expect(planFireRuns([fire(s, T0)], [], stale, { now: T0, nodeTtlMs: 1000, node: 'me' }).runs.map((r) => r.run.status)).toEqual(['queued']);
    expect(planFireRuns([fire(s, T0)], [], stale, { now: T0, nodeTtlMs: 1000 }).runs.map((r) => r.run.status)).toEqual(['skipped']);
    const draining = [live('me', { heartbeatAt: 0, draining: true })];
    expect(planFireRuns([fire(s, T0)], [], draining, { now: T0, nodeTtlMs: 1000, node: 'me' }).runs.map((r) => r.run.status)).toEqual(['skipped']);
    // For `all`, the creator gets its run; the stale other node does not.
    const all = schedule({ target: { kind: 'all' } });
    expect(planFireRuns([fire(all, T0)], [], stale, { now: T0, nodeTtlMs: 1000, node: 'me' }).runs.map((r) => r.run.targetNode)).toEqual(['me']);
  });

  test('allow gives every fire its run, whatever of its schedule is active; all gives each node a run of its own', () => {
    const allow = schedule();
    const out = planFireRuns([fire(allow, T0), fire(allow, T0 + 1)], [{ id: 9, schedule: 's', status: 'running' }], [live('a')], { now: T0, nodeTtlMs: 1000 });
    expect(out.runs.map((r) => [r.fire, r.run.status])).toEqual([[0, 'queued'], [1, 'queued']]);
    expect(out.requestCancel).toEqual([]);
    const all = schedule({ name: 'every', target: { kind: 'all' } });
    const [ra, rb] = planFireRuns([fire(all, T0)], [], [live('a'), live('b')], { now: T0, nodeTtlMs: 1000 }).runs.map((r) => r.run);
    expect([ra!.targetNode, rb!.targetNode]).toEqual(['a', 'b']);
    expect(ra).not.toBe(rb);
  });

  test('schedules of one batch with different tags each find the nodes with their own tag', () => {
    const x = schedule({ name: 'x', target: { kind: 'tag', tag: 'x' } });
    const y = schedule({ name: 'y', target: { kind: 'tag', tag: 'y' } });
    const any = schedule({ name: 'any' });
    const out = planFireRuns([fire(x, T0), fire(y, T0), fire(any, T0), fire(x, T0 + 1)], [], [live('a', { tags: ['x'] })], { now: T0, nodeTtlMs: 1000 });
    expect(out.runs.map((r) => [r.run.schedule, r.run.status, r.run.targetTag, r.run.reason])).toEqual([
      ['x', 'queued', 'x', null],
      ['y', 'skipped', 'y', 'no live node with tag "y" offers task "work"'],
      ['any', 'queued', null, null],
      ['x', 'queued', 'x', null],
    ]);
  });

  test('a skip reason wins over targeting and concurrency', () => {
    const s = schedule({ concurrency: 'forbid' });
    const out = planFireRuns([fire(s, T0, { skipReason: 'misfire' })], [{ id: 9, schedule: 's', status: 'running' }], [], { now: T0, nodeTtlMs: 1000 });
    expect(out.runs.map((r) => [r.run.status, r.run.reason])).toEqual([['skipped', 'misfire']]);
    expect(out.cancelQueued).toEqual([]);
  });

  test('replace with no live node skips and cancels nothing', () => {
    const s = schedule({ concurrency: 'replace' });
    const out = planFireRuns([fire(s, T0)], [{ id: 9, schedule: 's', status: 'queued' }], [live('n', { heartbeatAt: 0 })], { now: T0, nodeTtlMs: 1000 });
    expect(out.runs[0]!.run.status).toBe('skipped');
    expect(out.cancelQueued).toEqual([]);
  });

  test('replace on an all-target schedule cancels every queued run of the previous fire', () => {
    const s = schedule({ concurrency: 'replace', target: { kind: 'all' } });
    const out = planFireRuns(
      [fire(s, T0), fire(s, T0 + 1)],
      [{ id: 1, schedule: 's', status: 'running' }],
      [live('a'), live('b')],
      { now: T0, nodeTtlMs: 1000 },
    );
    expect(out.requestCancel.map((c) => c.id)).toEqual([1]);
    expect(out.runs.map((r) => [r.fire, r.run.targetNode, r.run.status])).toEqual([
      [0, 'a', 'cancelled'],
      [0, 'b', 'cancelled'],
      [1, 'a', 'queued'],
      [1, 'b', 'queued'],
    ]);
  });
});

describe('planFireRuns: the creator claims its own runs', () => {
  const claim = { tasks: ['work'], tags: ['gpu'], limit: 10, leaseMs: 30_000, dueBy: T0 + 500 };
  const nodes = [live('me', { tags: ['gpu'] }), live('other', { tags: ['gpu'] })];
  const claimed = (out: ReturnType<typeof planFireRuns>) => out.runs.map((r) => [r.run.targetNode, r.run.status, r.run.node, r.run.startedAt, r.run.leaseUntil]);

  test('a run it may run and due by dueBy is stored running on it, with its lease from now', () => {
    const out = planFireRuns([fire(schedule(), T0 + 500)], [], nodes, { now: T0, nodeTtlMs: 1000, node: 'me', claim });
    expect(claimed(out)).toEqual([[null, 'running', 'me', T0, T0 + 30_000]]);
  });

  test('runs due after dueBy, of a task it does not offer, meant for another node or tag, or skipped stay as they are', () => {
    const out = planFireRuns(
      [
        fire(schedule(), T0 + 501),
        fire(schedule({ name: 'x', task: 'other' }), T0),
        fire(schedule({ name: 'all', target: { kind: 'all' } }), T0),
        fire(schedule({ name: 'cpu', target: { kind: 'tag', tag: 'cpu' } }), T0),
        fire(schedule({ name: 'gone' }), T0, { skipReason: 'misfire' }),
      ],
      [],
      [...nodes, live('c', { tasks: ['work'], tags: ['cpu'] })],
      { now: T0, nodeTtlMs: 1000, node: 'me', claim },
    );
    expect(out.runs.map((r) => [r.run.schedule, r.run.targetNode, r.run.status, r.run.node])).toEqual([
      ['s', null, 'queued', null],
      ['x', null, 'skipped', null],
      ['all', 'me', 'running', 'me'],
      ['all', 'other', 'queued', null],
      ['all', 'c', 'queued', null],
      ['cpu', null, 'queued', null],
      ['gone', null, 'skipped', null],
    ]);
  });

  test('a tagged run is claimed by a creator with the tag; at most `limit` runs are claimed, in order', () => {
    const gpu = schedule({ target: { kind: 'tag', tag: 'gpu' } });
    const out = planFireRuns([fire(gpu, T0), fire(gpu, T0 + 1), fire(gpu, T0 + 2)], [], nodes, { now: T0, nodeTtlMs: 1000, node: 'me', claim: { ...claim, limit: 2 } });
    expect(out.runs.map((r) => r.run.status)).toEqual(['running', 'running', 'queued']);
  });

  test('a run cancelled by a later fire of the batch (replace) is not claimed; the replacing one is', () => {
    const s = schedule({ concurrency: 'replace' });
    const out = planFireRuns([fire(s, T0), fire(s, T0 + 1)], [], nodes, { now: T0, nodeTtlMs: 1000, node: 'me', claim });
    expect(out.runs.map((r) => [r.run.status, r.run.node])).toEqual([['cancelled', null], ['running', 'me']]);
  });

  test('without a claim, or a limit of 0, every run stays queued', () => {
    expect(planFireRuns([fire(schedule(), T0)], [], nodes, { now: T0, nodeTtlMs: 1000, node: 'me' }).runs[0]!.run.status).toBe('queued');
    expect(planFireRuns([fire(schedule(), T0)], [], nodes, { now: T0, nodeTtlMs: 1000, node: 'me', claim: { ...claim, limit: 0 } }).runs[0]!.run.status).toBe('queued');
  });
});

describe('retry rule', () => {
  const run = { attempt: 1, cancelRequested: false, schedule: 's', task: 'work', scheduledAt: T0, targetNode: 'n', targetTag: null, timeoutMs: 5, manual: true } as Run;

  test('backoff doubles per attempt', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(500, a))).toEqual([500, 1000, 2000, 4000]);
  });

  test('a retry keeps the target, the timeout and the manual flag; stopped runs and gone schedules are not retried', () => {
    expect(retryOf(run, { retries: { max: 1, backoffMs: 10 } }, T0)).toMatchObject({ attempt: 2, targetNode: 'n', timeoutMs: 5, manual: true, notBefore: T0 + 10 });
    expect(retryOf(run, { retries: { max: 0, backoffMs: 10 } }, T0)).toBeNull();
    expect(retryOf({ ...run, cancelRequested: true }, { retries: { max: 3, backoffMs: 10 } }, T0)).toBeNull();
    expect(retryOf(run, null, T0)).toBeNull();
  });
});
