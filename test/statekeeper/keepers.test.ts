import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_ADMIN_URL } from '../helpers/pg.js';

const ROOT = resolve(import.meta.dirname, '../..');
const URL = PG_ADMIN_URL;
const SCHEMA = `sk_${process.pid}_${Date.now()}`;
const LEASE_MS = 3000;

interface Keeper {
  name: string;
  priority: number;
  file: string;
  child: ChildProcess;
  log: string;
}

const dir = mkdtempSync(join(tmpdir(), 'cf-statekeeper-'));
const keepers: Keeper[] = [];

function startKeeper(name: string, priority: number): Keeper {
  const file = join(dir, `state-${name}`);
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/cronfleet.js'), 'state-keeper', '--cluster', 'jobs', '--state-file', file, '--store', URL,
      '--schema', SCHEMA, '--lease', `${LEASE_MS}ms`, '--node', name, '--priority', String(priority)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const k: Keeper = { name, priority, file, child, log: '' };
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (k.log += s));
  keepers.push(k);
  return k;
}

function stateOf(k: Keeper): string | null {
  try {
    return readFileSync(k.file, 'utf8').trim();
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples every 25 ms until `pred` holds, checking `invariant` at every sample. */
async function watch(keeps: Keeper[], pred: () => boolean, what: string, timeoutMs: number, invariant: (states: Array<string | null>) => void): Promise<number> {
  const start = Date.now();
  for (;;) {
    invariant(keeps.map(stateOf));
    if (pred()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; logs:\n${keeps.map((k) => k.log).join('\n')}`);
    await sleep(25);
  }
}

const atMostOneActive = (states: Array<string | null>) => expect(states.filter((s) => s === 'active').length).toBeLessThanOrEqual(1);

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/statekeeper/keeper.js'))) throw new Error('run `npx tsc -p tsconfig.json` before these tests');
});

afterAll(async () => {
  for (const k of keepers) {
    try {
      k.child.kill('SIGCONT');
      k.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  const client = new pg.Client({ connectionString: URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
  rmSync(dir, { recursive: true, force: true });
});

describe('three state keepers on PostgreSQL', () => {
  it('keep exactly one node active, hand over on kill -9, and a paused holder never writes active after resuming', async () => {
    const all = [startKeeper('n1', 10), startKeeper('n2', 20), startKeeper('n3', 30)];
    await watch(all, () => all.filter((k) => stateOf(k) === 'active').length === 1 && all.every((k) => stateOf(k) !== null), 'one active keeper', 30_000, atMostOneActive);

    // Steady state: exactly one `active` at every sample, for several renewals.
    for (let i = 0; i < 80; i++) {
      expect(all.map(stateOf).filter((s) => s === 'active')).toHaveLength(1);
      await sleep(50);
    }

    // kill -9 the holder: its file stays as it was (nobody is left to write it), so only the
    // live keepers are sampled. Another takes over within about one lease time.
    const first = all.find((k) => stateOf(k) === 'active')!;
    first.child.kill('SIGKILL');
    const live = all.filter((k) => k !== first);
    const handover = await watch(live, () => live.some((k) => stateOf(k) === 'active'), 'a new holder', 20_000, atMostOneActive);
    // The lease lasts LEASE_MS from the holder's last renewal (before the kill); standbys ask
    // every LEASE_MS/10. The extra second is for the loaded 2-core machine, not the design.
    expect(handover).toBeLessThan(LEASE_MS + 1000);
    const second = live.find((k) => stateOf(k) === 'active')!;
    // Both standbys asked while it was held; the higher priority is preferred for the free lease.
    expect(second.priority).toBe(Math.max(...live.map((k) => k.priority)));

    // Pause the new holder past its lease; the last keeper takes over.
    const third = live.find((k) => k !== second)!;
    second.child.kill('SIGSTOP');
    await watch([third], () => stateOf(third) === 'active', 'the third keeper to take over', 20_000, () => {});
    const logBeforeResume = second.log.length;
    second.child.kill('SIGCONT');

    // After resuming, the old holder's first write is `passive`, and while the third keeper
    // holds the lease it never writes `active` again.
    await watch([second, third], () => stateOf(second) === 'passive', 'the resumed keeper to write passive', 10_000, () => {});
    for (let i = 0; i < 3 * (LEASE_MS / 100); i++) {
      expect(stateOf(third)).toBe('active');
      expect(stateOf(second)).toBe('passive');
      await sleep(100);
    }
    const resumed = second.log.slice(logBeforeResume).split('\n').filter((l) => l.includes(' state='));
    expect(resumed[0]).toMatch(/node=n\d state=passive fence=\d+ \(lease not confirmed in time\)$/);
    expect(resumed.some((l) => l.includes('state=active'))).toBe(false);

    // A clean stop writes passive and releases the lease: the other one takes it at once.
    third.child.kill('SIGTERM');
    await watch([second], () => stateOf(second) === 'active', 'the remaining keeper to take the released lease', 10_000, () => {});
    expect(stateOf(third)).toBe('passive');
  }, 120_000);
});
