import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HelperLauncher, type LaunchEvents, type LaunchSpec } from '../../src/executor/launcher.js';
import { startTask } from '../../src/executor/run-task.js';
import { finishStatusOf } from '../../src/executor/task.js';
import { findGate, isDead, waitFor } from './helpers.js';

const DIST_LAUNCHER = pathToFileURL(fileURLToPath(new URL('../../dist/executor/launcher.js', import.meta.url))).href;

const spec = (file: string, args: string[] = []): LaunchSpec => ({ file, args, cwd: '/', env: { PATH: '/usr/bin:/bin' } });

interface Seen {
  events: string[];
  out: string;
  err: string;
  pid: number | null;
  ended: Promise<void>;
}

/** Records a launch's events in order. */
function record(): { seen: Seen; events: LaunchEvents } {
  let end!: () => void;
  const seen: Seen = { events: [], out: '', err: '', pid: null, ended: new Promise((r) => (end = r)) };
  const events: LaunchEvents = {
    spawned: (pid) => {
      seen.pid = pid;
      seen.events.push('spawned');
    },
    output: (fd, chunk) => {
      if (fd === 1) seen.out += chunk.toString();
      else seen.err += chunk.toString();
    },
    failed: (message) => {
      seen.events.push(`failed: ${message}`);
      end();
    },
    closed: (code, signal) => {
      seen.events.push(`closed ${code} ${signal}`);
      end();
    },
  };
  return { seen, events };
}

const launchers: HelperLauncher[] = [];
function helper(): HelperLauncher {
  const l = new HelperLauncher();
  launchers.push(l);
  return l;
}
afterEach(() => {
  for (const l of launchers.splice(0)) l.close();
});

describe('the process launcher helper', () => {
  it('relays both streams, the pid and the exit status', async () => {
    const { seen, events } = record();
    helper().launch(spec('/bin/sh', ['-c', 'echo out; echo err >&2; echo $$; exit 3']), events);
    await seen.ended;
    expect(seen.events).toEqual(['spawned', 'closed 3 null']);
    expect(seen.out).toBe(`out\n${seen.pid}\n`);
    expect(seen.err).toBe('err\n');
  });

  it('reports the signal that ended the task, and a spawn the kernel refused', async () => {
    const l = helper();
    const killed = record();
    l.launch(spec('/bin/sh', ['-c', 'kill -USR1 $$']), killed.events);
    const missing = record();
    l.launch(spec('/nonexistent/program'), missing.events);
    await Promise.all([killed.seen.ended, missing.seen.ended]);
    expect(killed.seen.events).toEqual(['spawned', 'closed null SIGUSR1']);
    expect(missing.seen.events).toEqual([expect.stringMatching(/^failed: could not spawn \/nonexistent\/program: .*ENOENT/)]);
  });

  it('ignores the signals a terminal sends the node: its tasks go on', async () => {
    const l = helper();
    l.prepare();
    const { seen, events } = record();
    l.launch(spec('/bin/sh', ['-c', 'sleep 0.5; echo done']), events);
    await waitFor('the task to start', () => seen.pid !== null);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.kill(l.helperPid!, sig);
    await seen.ended;
    expect(seen.events).toEqual(['spawned', 'closed 0 null']);
    expect(seen.out).toBe('done\n');
  });

  it('when the helper dies, kills the tasks it ran, fails their launches, and a new helper takes the next', async () => {
    const l = helper();
    const { seen, events } = record();
    l.launch(spec('/bin/sh', ['-c', 'sleep 1000 & echo $!; wait']), events);
    await waitFor('the task and its child to start', () => seen.pid !== null && seen.out.includes('\n'));
    const grandchild = Number(seen.out.trim());
    const first = l.helperPid!;
    process.kill(first, 'SIGKILL');
    await seen.ended;
    expect(seen.events).toEqual([
      'spawned',
      `failed: the process launcher (pid ${first}) was killed by SIGKILL while the task ran: the task was killed and its exit status is unknown`,
    ]);
    await waitFor('the task group to be killed', () => isDead(seen.pid!) && isDead(grandchild));

    const next = record();
    l.launch(spec('/bin/echo', ['again']), next.events);
    await next.seen.ended;
    expect(next.seen.events).toEqual(['spawned', 'closed 0 null']);
    expect(next.seen.out).toBe('again\n');
    expect(l.helperPid).not.toBe(first);
  });

  it('a gate waiting for its instant when the helper dies runs nothing: it reads the end of its pipe and exits', async () => {
    const l = helper();
    const { seen, events } = record();
    const marker = `gate-orphan-${process.pid}-${Date.now()}`;
    l.launch(spec('/bin/sh', ['-c', `echo ran; touch /tmp/${marker}`]), events, true);
    let gate: number | null = null;
    await waitFor('the gate to be forked', () => (gate = findGate(marker)) !== null);
    const first = l.helperPid!;
    process.kill(first, 'SIGKILL');
    await seen.ended;
    expect(seen.events).toEqual([`failed: the process launcher (pid ${first}) was killed by SIGKILL before the task started`]);
    await waitFor('the gate to exit', () => isDead(gate!));
    expect(seen.out).toBe('');
    expect(spawnSync('test', ['-e', `/tmp/${marker}`]).status).toBe(1);
  });

  it('ends a running task\'s result with the reason when the helper dies under it', async () => {
    const l = helper();
    const h = startTask({ kind: 'command', argv: ['sleep', '1000'], shell: false }, { launcher: l });
    await waitFor('the task to start', () => h.pid !== null);
    const pid = h.pid!;
    process.kill(l.helperPid!, 'SIGKILL');
    const r = await h.done;
    expect(r).toMatchObject({ exitCode: null, signal: null, cancelled: false, timedOut: false });
    expect(r.error).toMatch(/^the process launcher \(pid \d+\) was killed by SIGKILL while the task ran: the task was killed/);
    expect(finishStatusOf(r)).toBe('failed');
    await waitFor('the task to be killed', () => isDead(pid));
  });

  it('leaves with the process that started it, and does not keep that process alive when idle', async () => {
    // A process that launches one task, prints its helper's pid and then has nothing left to do:
    // it must exit on its own, and its helper with it.
    const script = `const { HelperLauncher } = await import(${JSON.stringify(DIST_LAUNCHER)});
      const l = new HelperLauncher();
      await new Promise((resolve) => l.launch({ file: '/bin/true', args: [], cwd: '/', env: {} },
        { spawned() {}, output() {}, failed: resolve, closed: resolve }));
      process.stdout.write(String(l.helperPid));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    const idleHelper = Number(r.stdout);
    expect(idleHelper).toBeGreaterThan(0);
    await waitFor('the idle helper to leave with its node', () => isDead(idleHelper));

    // Killed outright while a task runs: the helper sees its channel close and goes too. (Its task
    // is left running, as a node's own would be after kill -9; the next start of a node sweeps
    // such a run lost. The test ends it.)
    const busyScript = `const { HelperLauncher } = await import(${JSON.stringify(DIST_LAUNCHER)});
      const l = new HelperLauncher();
      l.launch({ file: '/bin/sleep', args: ['1000'], cwd: '/', env: {} },
        { spawned: (pid) => process.stdout.write(l.helperPid + ' ' + pid + '\\n'), output() {}, failed() {}, closed() {} });`;
    const busy = spawn(process.execPath, ['--input-type=module', '-e', busyScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    busy.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('the busy node to report its helper', () => out.includes('\n'));
    const [busyHelper, task] = out.trim().split(' ').map(Number) as [number, number];
    busy.kill('SIGKILL');
    try {
      await waitFor('the busy helper to leave with its node', () => isDead(busyHelper));
    } finally {
      process.kill(-task, 'SIGKILL');
    }
  });
});
