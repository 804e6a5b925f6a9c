import { describe, expect, it } from 'vitest';
import { ResultQueue } from '../../src/executor/results.js';
import { silentLogger } from '../../src/log/logger.js';
import type { Store } from '../../src/store/store.js';
import type { FinishRequest, FinishResult } from '../../src/store/types.js';

/**
 * A store whose finishRuns answers only when the test says, each call on its own; once told to
 * answer everything, it answers the calls waiting and every later one at once.
 */
function heldStore() {
  const calls: Array<{ ids: number[]; answer: (ok: boolean) => void }> = [];
  let answerAll = false;
  const store = {
    finishRuns(reqs: FinishRequest[]): Promise<FinishResult[]> {
      return new Promise((resolve, reject) => {
        const answer = (ok: boolean) => (ok ? resolve(reqs.map(() => ({ applied: true, retry: null }))) : reject(new Error('connection refused')));
        calls.push({ ids: reqs.map((r) => r.runId), answer });
        if (answerAll) answer(true);
      });
    },
  } as unknown as Store;
  const acceptAll = () => {
    answerAll = true;
    for (const c of calls) c.answer(true);
  };
  return { store, calls, acceptAll };
}

const result = (runId: number): FinishRequest => ({
  runId,
  node: 'n1',
  status: 'succeeded',
  exitCode: 0,
  signal: null,
  reason: null,
  output: { stdout: '', stderr: '' },
  now: 0,
});

const ticks = () => new Promise((r) => setImmediate(r));

/** A queue on a held store, with these results added and their first batch sent. */
async function queueWith(...ids: number[]) {
  const held = heldStore();
  const q = new ResultQueue(held.store, silentLogger());
  for (const id of ids) q.add(result(id));
  await ticks();
  return { q, ...held };
}

describe('ResultQueue', () => {
  it('writes a full batch waiting behind one in flight in a second lane, never a third', async () => {
    const { q, calls, acceptAll } = await queueWith(1);
    expect(calls.map((c) => c.ids)).toEqual([[1]]);
    // Fewer than a batch behind the one in flight: they wait for it.
    for (let id = 2; id <= 100; id++) q.add(result(id));
    await ticks();
    expect(calls).toHaveLength(1);
    // A full batch (500) waiting: a second lane takes it; more waiting does not start a third.
    for (let id = 101; id <= 1_600; id++) q.add(result(id));
    await ticks();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.ids).toHaveLength(500);
    expect(calls[1]!.ids[0]).toBe(2);
    // Everything not yet written is still the node's to renew, in flight or waiting.
    expect(q.pendingRunIds().sort((a, b) => a - b)).toEqual(Array.from({ length: 1_600 }, (_, i) => i + 1));

    const flushed = q.flush();
    acceptAll();
    await flushed;
    expect(Math.max(...calls.map((c) => c.ids.length))).toBe(500);
    expect(calls.flatMap((c) => c.ids).sort((a, b) => a - b)).toEqual(Array.from({ length: 1_600 }, (_, i) => i + 1));
    expect(q.pendingRunIds()).toEqual([]);
    expect(q.stats).toEqual({ recorded: 1_600, errors: 0 });
  });

  it('a flush ends once what was queued before it is written, though results keep coming', async () => {
    const { q, calls } = await queueWith(1, 2);
    let flushed = false;
    void q.flush().then(() => (flushed = true));
    // More results behind the ones the flush waits for, and a batch of them in flight.
    q.add(result(3));
    calls[0]!.answer(true);
    await ticks();
    expect(calls.map((c) => c.ids)).toEqual([[1], [2, 3]]);
    expect(flushed).toBe(false);
    q.add(result(4));
    calls[1]!.answer(true);
    await ticks();
    // 2 is written: the flush is answered while 4 is still on its way.
    expect(flushed).toBe(true);
    expect(calls.map((c) => c.ids)).toEqual([[1], [2, 3], [4]]);
    expect(q.pendingRunIds()).toEqual([4]);
  });

  it('keeps a refused batch and writes it, once, at the next flush', async () => {
    const { q, calls } = await queueWith(1, 2);
    const refused = q.flush();
    calls[0]!.answer(false);
    await refused;
    expect(q.stats).toEqual({ recorded: 0, errors: 1 });
    expect(q.pendingRunIds()).toEqual([1, 2]);

    const retried = q.flush();
    await ticks();
    expect(calls.map((c) => c.ids)).toEqual([[1], [1, 2]]);
    calls[1]!.answer(true);
    await retried;
    expect(q.pendingRunIds()).toEqual([]);
    expect(q.stats).toEqual({ recorded: 2, errors: 1 });
  });
});
