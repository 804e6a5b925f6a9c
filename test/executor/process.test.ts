import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launcherFor, type HelperLauncher } from '../../src/executor/launcher.js';
import { prestartCommand } from '../../src/executor/process.js';
import { startTask } from '../../src/executor/run-task.js';
import type { CommandTask, TaskStartOptions } from '../../src/executor/task.js';
import { statFields } from '../../src/proc.js';
import { findGate, isDead, niceOfStatLine, waitFor } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'cronfleet-process-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function cmd(argv: string[], extra: Partial<CommandTask> = {}): CommandTask {
  return { kind: 'command', argv, shell: false, ...extra };
}

afterAll(() => (launcherFor('helper') as HelperLauncher).close());

// Every behaviour holds whichever way the task is forked: through the helper (the default) or inline.
describe.each(['helper', 'inline'] as const)('launched %s', (mode) => {
  const start = (task: CommandTask, opts: TaskStartOptions = {}) => startTask(task, { launcher: launcherFor(mode), ...opts });
  const run = (task: CommandTask, opts: TaskStartOptions = {}) => start(task, opts).done;
  const dir = join(root, mode);
  mkdirSync(dir);

  describe('exit status', () => {
    it('reports the exit code of the process', async () => {
      const r = await run(cmd(['sh', '-c', 'exit 3']));
      expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, cancelled: false, error: null });
      expect(r.finishedAt).toBeGreaterThanOrEqual(r.startedAt);
    });

    it('reports the signal that killed the process, by name', async () => {
      const r = await run(cmd(['sh', '-c', 'kill -USR1 $$']));
      expect(r).toMatchObject({ exitCode: null, signal: 'SIGUSR1', error: null });
    });

    it('captures stdout and stderr separately', async () => {
      const r = await run(cmd(['sh', '-c', 'echo to-out; echo to-err >&2']));
      expect(r.stdout).toBe('to-out\n');
      expect(r.stderr).toBe('to-err\n');
    });
  });

  describe('argv, shell, env and cwd', () => {
    it('passes argv without a shell: a ; stays literal', async () => {
      const r = await run(cmd(['echo', 'a; echo b', '$HOME']));
      expect(r.stdout).toBe('a; echo b $HOME\n');
    });

    it('runs argv[0] through /bin/sh -c when shell is true', async () => {
      const r = await run(cmd(['echo a; echo b | tr b c'], { shell: true }));
      expect(r.stdout).toBe('a\nc\n');
    });

    it('merges the node env, the task env and the run env, later ones winning', async () => {
      process.env.CRONFLEET_TEST_INHERITED = 'from-node';
      try {
        const r = await run(cmd(['sh', '-c', 'echo "$CRONFLEET_TEST_INHERITED $A $B $C"'], { env: { A: 'task-a', B: 'task-b' } }), {
          env: { B: 'run-b', C: 'run-c' },
        });
        expect(r.stdout).toBe('from-node task-a run-b run-c\n');
      } finally {
        delete process.env.CRONFLEET_TEST_INHERITED;
      }
    });

    it('runs in the task cwd', async () => {
      const r = await run(cmd(['pwd'], { cwd: dir }));
      expect(r.stdout.trim()).toBe(realpathSync(dir));
    });

    it('starts the task as the leader of its own process group', async () => {
      const r = await run(cmd(['sh', '-c', 'cut -d" " -f5 /proc/$$/stat; echo $$']));
      const [pgid, pid] = r.stdout.trim().split('\n');
      expect(pgid).toBe(pid);
      expect(Number(pgid)).not.toBe(process.pid);
    });
  });

  describe('nice', () => {
    it('runs the task and what it starts at the configured niceness', async () => {
      const expected = Math.min(19, getPriority() + 7);
      const h = start(cmd(['sh', '-c', 'sh -c "cat /proc/self/stat"; exec sleep 1000'], { nice: 7 }), { killGraceMs: 1000 });
      await waitFor('the grandchild stat line', () => h.tails().stdout.includes('\n'));
      expect(niceOfStatLine(h.tails().stdout)).toBe(expected);
      const leader = statFields(h.pid!);
      expect(leader && Number(leader[16])).toBe(expected);
      h.cancel('test over');
      expect((await h.done).cancelled).toBe(true);
    });

    it('rejects a nice outside -20..19 without running anything', async () => {
      const r = await run(cmd(['touch', join(dir, 'never')], { nice: 40 }));
      expect(r.exitCode).toBeNull();
      expect(r.error).toMatch(/nice 40 is out of range: expected an integer from -20 to 19/);
      expect(() => statSync(join(dir, 'never'))).toThrow();
    });
  });

  describe('timeout and cancel', () => {
    // The timeouts leave the shell ample time to install its trap first, even on a loaded machine.
    it('kills a TERM-ignoring task and its TERM-ignoring child after the grace period', async () => {
      const h = start(cmd(['sh', '-c', 'trap "" TERM; sleep 1000 & echo $!; wait; wait']), { timeoutMs: 3000, killGraceMs: 300 });
      await waitFor('the child pid', () => h.tails().stdout.includes('\n'));
      const child = Number(h.tails().stdout.trim());
      const r = await h.done;
      expect(r).toMatchObject({ timedOut: true, cancelled: false, signal: 'SIGKILL', exitCode: null });
      await waitFor('the leader to be gone', () => isDead(h.pid!));
      await waitFor('the child to be gone', () => isDead(child));
    });

    it('still kills a TERM-ignoring child after the leader died of TERM', async () => {
      // The child writes nowhere near our pipes, so the run could end as soon as the leader dies.
      const script = '(trap "" TERM; exec sleep 1000) >/dev/null 2>&1 & echo $!; wait';
      const h = start(cmd(['sh', '-c', script]), { timeoutMs: 3000, killGraceMs: 300 });
      await waitFor('the child pid', () => h.tails().stdout.includes('\n'));
      const child = Number(h.tails().stdout.trim());
      const r = await h.done;
      expect(r).toMatchObject({ timedOut: true, signal: 'SIGTERM' });
      await waitFor('the child to be gone', () => isDead(child));
    });

    it('ends a stopped run once no member of its group runs, not at the end of the grace', async () => {
      // Both sleeps die of TERM; the orphaned one may stay a zombie under an init that does not
      // reap (or cronfleet as PID 1), which kill(-pgid, 0) would still count as the group.
      const h = start(cmd(['sh', '-c', 'sleep 100 & echo $!; sleep 100']), { timeoutMs: 300, killGraceMs: 20_000 });
      await waitFor('the child pid', () => h.tails().stdout.includes('\n'));
      const child = Number(h.tails().stdout.trim());
      const r = await h.done;
      expect(r).toMatchObject({ timedOut: true, signal: 'SIGTERM' });
      expect(isDead(child)).toBe(true);
      // The grace is 20 s: ending in under half of it means the run did not wait for it.
      expect(r.finishedAt - r.startedAt).toBeLessThan(10_000);
    });

    it('uses the task timeout unless the run overrides it, null meaning none', async () => {
      const timed = await run(cmd(['sleep', '1000'], { timeoutMs: 100 }), { killGraceMs: 5000 });
      expect(timed).toMatchObject({ timedOut: true, signal: 'SIGTERM' });
      const untimed = await run(cmd(['sleep', '0.5'], { timeoutMs: 50 }), { timeoutMs: null });
      expect(untimed).toMatchObject({ timedOut: false, exitCode: 0 });
    });

    it('cancel stops the group with TERM and marks the result cancelled', async () => {
      const h = start(cmd(['sh', '-c', 'echo up; exec sleep 1000']));
      await waitFor('the task to start', () => h.tails().stdout === 'up\n');
      h.cancel('replaced by a newer run');
      const r = await h.done;
      expect(r).toMatchObject({ cancelled: true, timedOut: false, signal: 'SIGTERM', exitCode: null, stdout: 'up\n' });
      h.cancel('again');
    });

    it('a cancel asked before the process has started stops it as soon as it has', async () => {
      const h = start(cmd(['sleep', '1000']));
      h.cancel('cancelled at once');
      const r = await h.done;
      expect(r).toMatchObject({ cancelled: true, signal: 'SIGTERM', exitCode: null, error: null });
      expect(h.pid).toBeGreaterThan(0);
      expect(isDead(h.pid!)).toBe(true);
    });
  });

  describe('output', () => {
    it('keeps the full 10 MB in the log and exactly the last 256 KiB as the tail', async () => {
      const logPath = join(dir, 'big', 'nested', 'run.log');
      const r = await run(cmd(['seq', '1', '1500000']), { logPath });
      const expected = Buffer.from(Array.from({ length: 1_500_000 }, (_, i) => `${i + 1}\n`).join(''));
      expect(expected.length).toBeGreaterThan(10 * 1024 * 1024);
      const log = readFileSync(logPath);
      expect(log.length).toBe(expected.length);
      expect(log.equals(expected)).toBe(true);
      expect(r.stdout).toBe(expected.subarray(expected.length - 256 * 1024).toString());
      expect(r.exitCode).toBe(0);
    });

    it('honours a smaller tailBytes for each stream', async () => {
      const r = await run(cmd(['sh', '-c', 'printf 0123456789; printf abcdefghij >&2']), { tailBytes: 4 });
      expect(r.stdout).toBe('6789');
      expect(r.stderr).toBe('ghij');
    });

    it('logs both streams, each in its own order, appending to an existing log', async () => {
      const logPath = join(dir, 'both.log');
      writeFileSync(logPath, 'before\n');
      await run(cmd(['sh', '-c', 'for i in 1 2 3; do echo out$i; echo err$i >&2; done']), { logPath });
      const lines = readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
      expect(lines[0]).toBe('before');
      expect(lines.filter((l) => l.startsWith('out'))).toEqual(['out1', 'out2', 'out3']);
      expect(lines.filter((l) => l.startsWith('err'))).toEqual(['err1', 'err2', 'err3']);
      expect(lines).toHaveLength(7);
    });

    it('shows the tails and the log while the task runs', async () => {
      const logPath = join(dir, 'live.log');
      const h = start(cmd(['sh', '-c', 'echo started; echo warming >&2; exec sleep 1000']), { logPath, killGraceMs: 1000 });
      await waitFor('both tails', () => h.tails().stdout === 'started\n' && h.tails().stderr === 'warming\n');
      await waitFor('the log', () => {
        const text = readFileSync(logPath, 'utf8');
        return text.includes('started\n') && text.includes('warming\n');
      });
      h.cancel('seen enough');
      await h.done;
    });

    it('still runs the task when its log cannot be written, and says why in stderr', async () => {
      const r = await run(cmd(['echo', 'hi']), { logPath: '/proc/version/x.log' });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe('hi\n');
      expect(r.stderr).toMatch(/could not write the output log \/proc\/version\/x\.log/);
    });
  });

  describe('spawn errors end in a result, never a throw', () => {
    it('reports a program missing from PATH', async () => {
      const r = await run(cmd(['cronfleet-no-such-program']));
      expect(r).toMatchObject({ exitCode: null, signal: null });
      expect(r.error).toMatch(/program "cronfleet-no-such-program" was not found in PATH.*ENOENT/);
    });

    it('reports a missing path, also when niced', async () => {
      const r = await run(cmd(['/nonexistent/prog'], { nice: 5 }));
      expect(r.exitCode).toBeNull();
      expect(r.error).toMatch(/program \/nonexistent\/prog does not exist \(ENOENT\)/);
    });

    it('reports a file that is not executable', async () => {
      const file = join(dir, 'not-exec.sh');
      writeFileSync(file, '#!/bin/sh\necho no\n');
      chmodSync(file, 0o644);
      const r = await run(cmd([file]));
      expect(r.exitCode).toBeNull();
      expect(r.error).toMatch(/is not an executable file \(EACCES\)/);
    });

    it('reports a cwd that does not exist', async () => {
      const r = await run(cmd(['pwd'], { cwd: join(dir, 'missing') }));
      expect(r.exitCode).toBeNull();
      expect(r.error).toMatch(/cwd .*missing cannot be used \(ENOENT\): expected an existing directory/);
    });

    it('reports an empty argv', async () => {
      const r = await run(cmd([]));
      expect(r.error).toMatch(/argv is empty/);
    });

    it('reports a spawn failure that only the kernel sees', async () => {
      // An argument with a NUL byte passes every check above and is refused by spawn itself.
      const r = await run(cmd(['echo', 'a\0b']));
      expect(r.exitCode).toBeNull();
      expect(r.error).toMatch(/could not spawn/);
    });
  });

  describe('gated: forked ahead of the instant, run at the release', () => {
    const prestart = (task: CommandTask, opts: TaskStartOptions = {}) => prestartCommand(task, { launcher: launcherFor(mode), ...opts });
    const gateOf = async (marker: string): Promise<number> => {
      let pid: number | null = null;
      await waitFor('the gate to be forked', () => (pid = findGate(marker)) !== null);
      return pid!;
    };

    it('runs nothing until released, then the program in the gate\'s own process, started at the release', async () => {
      const marker = join(dir, 'gate-ran');
      const g = prestart(cmd(['/bin/sh', '-c', `date +%s%3N > ${marker}; cat; echo "$GATED"`]), { env: { GATED: 'yes' } });
      const gate = await gateOf(marker);
      // Forked and waiting: the program has not run, and the run has no pid of its own yet.
      expect(statFields(gate)?.[0]).toBe('S');
      expect(existsSync(marker)).toBe(false);
      expect(g.handle.pid).toBeNull();
      const before = Date.now();
      g.release();
      const r = await g.handle.done;
      expect(r).toMatchObject({ exitCode: 0, signal: null, error: null, stdout: 'yes\n' });
      expect(g.handle.pid).toBe(gate);
      expect(r.startedAt).toBeGreaterThanOrEqual(before);
      expect(Number(readFileSync(marker, 'utf8'))).toBeGreaterThanOrEqual(before);
    });

    it('a gate let go runs nothing, leaves no log file, and goes', async () => {
      const marker = join(dir, 'gate-discarded');
      const logPath = join(dir, 'gate-discarded.log');
      const g = prestart(cmd(['/bin/sh', '-c', `touch ${marker}`]), { logPath });
      const gate = await gateOf(marker);
      g.discard();
      await waitFor('the gate to exit', () => isDead(gate));
      g.release();
      await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(marker)).toBe(false);
      expect(existsSync(logPath)).toBe(false);
    });

    it('released before its gate was even forked, it simply runs', async () => {
      const marker = join(dir, 'gate-hurried');
      const g = prestart(cmd(['/bin/sh', '-c', `echo ran > ${marker}`]));
      g.release();
      expect((await g.handle.done).exitCode).toBe(0);
      expect(readFileSync(marker, 'utf8')).toBe('ran\n');
    });

    it('a fork the kernel refuses is the run\'s result at its release', async () => {
      const logPath = join(dir, 'gate-refused.log');
      const g = prestart(cmd(['echo', 'a\0b']), { logPath });
      let settled = false;
      void g.handle.done.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(settled).toBe(false);
      const before = Date.now();
      g.release();
      const r = await g.handle.done;
      expect(r.error).toMatch(/could not spawn/);
      expect(r.startedAt).toBeGreaterThanOrEqual(before);
      // As for a run forked at its instant, the run that started has its (empty) log file.
      expect(readFileSync(logPath, 'utf8')).toBe('');
    });
  });
});
