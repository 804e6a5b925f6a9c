import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { statLineFields } from '../../src/proc.js';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { exited, startCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const MODULE = fileURLToPath(new URL('../../dist/helper-threads.cjs', import.meta.url));

/** The nice value of each thread of `pid`, from /proc (field 19 of the stat line). */
function niceByThread(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const fields = statLineFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    out.set(Number(tid), Number(fields[19 - 3]));
  }
  return out;
}

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('helper threads at the lowest priority', () => {
  it('lowers every thread but the main one, and leaves the thread pool started afterwards alone', () => {
    // CommonJS, as bin/cronfleet.js: the thread pool is not running yet on its first line.
    const script = `
      const { readdirSync, readFileSync } = require('node:fs');
      const { readFile } = require('node:fs/promises');
      const { lowerHelperThreadPriority } = require(${JSON.stringify(MODULE)});
      const nice = () => Object.fromEntries(readdirSync('/proc/self/task').map((t) => {
        const s = readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
        return [t, Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16])];
      }));
      const before = nice();
      const lowered = lowerHelperThreadPriority();
      const after = nice();
      readFile(${JSON.stringify(MODULE)}).then(() =>
        console.log(JSON.stringify({ pid: process.pid, before, lowered, after, later: nice() })));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { pid, before, lowered, after, later } = JSON.parse(r.stdout) as {
      pid: number;
      before: Record<string, number>;
      lowered: number;
      after: Record<string, number>;
      later: Record<string, number>;
    };
    const helpers = Object.keys(before).filter((t) => Number(t) !== pid);
    expect(helpers.length).toBeGreaterThan(0);
    expect(Object.values(before).every((n) => n === 0)).toBe(true);
    expect(lowered).toBe(helpers.length);
    expect(after[pid]).toBe(0);
    for (const t of helpers) expect(after[t]).toBe(19);
    // The libuv pool came up for the readFile, from the main thread: it runs at the main
    // thread's priority.
    const pool = Object.keys(later).filter((t) => !(t in before));
    expect(pool.length).toBeGreaterThan(0);
    for (const t of pool) expect(later[t]).toBe(0);
  });

  it('cronfleet serve runs its main thread at normal priority and its V8 helpers at nice 19', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cf-nice-'));
    writeFileSync(join(dir, 'cronfleet.yaml'), 'node: { name: nice-test }\nstore: sqlite:./cf.db\nhttp: false\ntasks: {}\nschedules: []\n');
    const node = startCli(['serve', '--config', join(dir, 'cronfleet.yaml')], { cwd: dir });
    try {
      await waitFor('the node to start', async () => /node started/.test(node.log()), 30_000);
      const nice = niceByThread(node.pid!);
      expect(nice.get(node.pid!)).toBe(0);
      // Node starts four V8 platform workers and one delayed-task thread with the process.
      expect([...nice.values()].filter((n) => n === 19).length).toBeGreaterThanOrEqual(4);
    } finally {
      node.kill('SIGTERM');
      await exited(node);
    }
  });
});
