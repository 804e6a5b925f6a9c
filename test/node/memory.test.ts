/**
 * The `lean` heap profile bounds the young generation and sets the old generation's growth, in a
 * real Node process (V8 flags are process-wide, so not in the test runner's own).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LEAN_YOUNG_GENERATION_BYTES } from '../../src/node/memory.js';

const MEMORY = fileURLToPath(new URL('../../dist/node/memory.js', import.meta.url));

/** Applies `profile`, then allocates with survivors so V8 wants to grow; reports the young generation's size. */
function youngGenerationAfterLoad(profile: string): number {
  const code = `
    import { applyMemoryProfile } from ${JSON.stringify(MEMORY)};
    import * as v8 from 'node:v8';
    applyMemoryProfile(${JSON.stringify(profile)});
    let keep = [];
    for (let round = 0; round < 120; round++) {
      for (let k = 0; k < 20000; k++) { keep.push({ a: k, b: 'x' + k, c: [k] }); if (keep.length > 60000) keep = keep.slice(30000); }
      await new Promise((r) => setImmediate(r));
    }
    console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return Number(r.stdout.trim());
}

describe('memory profile', () => {
  it('lean keeps the young generation at its bound where V8 alone grows it past', () => {
    const lean = youngGenerationAfterLoad('lean');
    const v8 = youngGenerationAfterLoad('v8');
    expect(lean).toBeGreaterThan(0);
    expect(lean).toBeLessThanOrEqual(LEAN_YOUNG_GENERATION_BYTES);
    expect(v8).toBeGreaterThan(LEAN_YOUNG_GENERATION_BYTES);
  });

  it('lean collects the start-up garbage once started; v8 leaves collections to V8', () => {
    const after = (profile: string): { before: number; after: number } => {
      const code = `
        import { collectStartupGarbage } from ${JSON.stringify(MEMORY)};
        let garbage = Array.from({ length: 300000 }, (_, i) => ({ i, s: 'x' + i }));
        garbage = null;
        const before = process.memoryUsage().heapUsed;
        collectStartupGarbage(${JSON.stringify(profile)});
        console.log(JSON.stringify({ before, after: process.memoryUsage().heapUsed }));`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout) as { before: number; after: number };
    };
    const lean = after('lean');
    expect(lean.after).toBeLessThan(lean.before / 2);
    const v8 = after('v8');
    expect(v8.after).toBeGreaterThanOrEqual(v8.before);
  });
});
