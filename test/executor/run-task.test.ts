import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { launcherFor } from '../../src/executor/launcher.js';
import { TaskKindError, startTask } from '../../src/executor/run-task.js';
import type { TaskDef } from '../../src/executor/task.js';

describe('startTask', () => {
  it('runs the builtin noop at once with exit code 0', async () => {
    const h = startTask({ kind: 'builtin', builtin: 'noop' });
    expect(h.pid).toBeNull();
    expect(await h.done).toMatchObject({ exitCode: 0, error: null, timedOut: false, cancelled: false });
  });

  it('dispatches gearman tasks, whose unreachable servers end in an error result', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const task: TaskDef = { kind: 'gearman', function: 'f', servers: [{ host: '127.0.0.1', port }], wait: false };
    const h = startTask(task, { timeoutMs: 10_000 });
    expect(h.pid).toBeNull();
    const r = await h.done;
    expect(r.exitCode).toBeNull();
    expect(r.error).toMatch(/ECONNREFUSED|refused|connect/i);
  });

  it('names an unknown kind and the kinds it expected', () => {
    const task = { kind: 'ftp' } as unknown as TaskDef;
    expect(() => startTask(task)).toThrow(/task kind "ftp" is unknown: expected command, http, builtin or gearman/);
    let caught: unknown;
    try {
      startTask(task);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TaskKindError);
    expect((caught as TaskKindError).code).toBe('CF_ERR_TASK_KIND');
  });

  it('dispatches command tasks to a real process, whose pid is known once it has started', async () => {
    for (const mode of ['helper', 'inline'] as const) {
      const h = startTask({ kind: 'command', argv: ['sh', '-c', 'echo $$'], shell: false }, { launcher: launcherFor(mode) });
      const r = await h.done;
      expect(h.pid).toBeGreaterThan(0);
      expect(r.stdout.trim()).toBe(String(h.pid));
    }
  });
});
