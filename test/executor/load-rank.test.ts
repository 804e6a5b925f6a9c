import { describe, expect, it } from 'vitest';
import { loadRank } from '../../src/executor/load-rank.js';
import type { NodeRecord } from '../../src/store/types.js';

const NOW = 1_000_000;
const TTL = 3_000;

function node(name: string, running: number | null, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { name, host: 'h', pid: 1, version: '0', tasks: ['t'], tags: [], startedAt: 0, heartbeatAt: NOW, draining: false, clockSkewMs: 0, scheduler: true, running, executing: null, planned: null, ...extra };
}

describe('loadRank', () => {
  it('counts live peers holding fewer runs than this node', () => {
    const nodes = [node('a', 5), node('b', 1), node('c', 3), node('d', 7)];
    expect(loadRank('a', nodes, NOW, TTL)).toBe(2);
    expect(loadRank('b', nodes, NOW, TTL)).toBe(0);
    expect(loadRank('d', nodes, NOW, TTL)).toBe(3);
  });

  it('judges by the tasks a node said it executes, not the runs it holds for later instants', () => {
    // a holds 900 runs for the next instants but executes 1; b holds 10 and executes 5.
    const nodes = [node('a', 900, { executing: 1 }), node('b', 10, { executing: 5 }), node('c', 0)];
    expect(loadRank('a', nodes, NOW, TTL)).toBe(1);
    expect(loadRank('b', nodes, NOW, TTL)).toBe(2);
    // c has not said yet: what it holds stands in.
    expect(loadRank('c', nodes, NOW, TTL)).toBe(0);
    // Listed without counts (as executors list their peers), a node that has not said yet
    // counts as idle, which a node new to the cluster is.
    const uncounted = [node('a', 0, { running: null, executing: 1 }), node('n', 0, { running: null })];
    expect(loadRank('a', uncounted, NOW, TTL)).toBe(1);
    expect(loadRank('n', uncounted, NOW, TTL)).toBe(0);
  });

  it('lets equally loaded nodes all claim at once', () => {
    const nodes = [node('a', 2), node('b', 2), node('c', 2)];
    expect(['a', 'b', 'c'].map((n) => loadRank(n, nodes, NOW, TTL))).toEqual([0, 0, 0]);
  });

  it('ignores dead, draining and unrelated peers, and a node not yet in the list', () => {
    const nodes = [
      node('a', 4),
      node('dead', 0, { heartbeatAt: NOW - TTL - 1 }),
      node('drained', 0, { draining: true }),
      node('other', 0, { tasks: ['x'] }),
      node('partly', 0, { tasks: ['x', 't'] }),
    ];
    expect(loadRank('a', nodes, NOW, TTL)).toBe(1);
    expect(loadRank('new', nodes, NOW, TTL)).toBe(0);
  });
});
