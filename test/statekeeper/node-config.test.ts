import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let nodes: RunningNode[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-keeper-node-'));
  nodes = [];
});

afterEach(async () => {
  for (const n of nodes) await n.stop(0);
  rmSync(dir, { recursive: true, force: true });
});

async function node(name: string, priority: number): Promise<RunningNode> {
  const cfg = parseConfigText(
    `node: { name: ${name} }
store: sqlite:./cf.db
http: false
scheduler: false
stateKeepers:
  - { cluster: jobs, stateFile: ./${name}.state, priority: ${priority}, lease: 1s }
`,
    join(dir, `${name}.yaml`),
  );
  const n = await startNode(cfg, { log: silentLogger() });
  nodes.push(n);
  return n;
}

const state = (name: string) => {
  const f = join(dir, `${name}.state`);
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : null;
};

describe('stateKeepers section of the node config', () => {
  it('keeps exactly one node active per cluster and hands over when the holder stops', async () => {
    const a = await node('a', 100);
    await waitFor('a to be active', () => state('a') === 'active');
    await node('b', 10);
    await waitFor('b to write passive', () => state('b') === 'passive');
    expect(state('a')).toBe('active');
    await a.stop();
    nodes = nodes.filter((n) => n !== a);
    expect(state('a')).toBe('passive');
    await waitFor('b to take over', () => state('b') === 'active', 10_000);
  });

  it('rejects a lease shorter than a second, naming the field', () => {
    expect(() => parseConfigText('stateKeepers: [{ cluster: c, stateFile: /tmp/s, lease: 500ms }]', 'n.yaml')).toThrow(
      /n\.yaml: line 1: stateKeepers\.0\.lease: "500ms" is too short: expected at least 1s/,
    );
  });
});
