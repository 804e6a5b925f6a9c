import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTask } from '../../src/executor/run-task.js';
import type { CommandTask, TaskResult } from '../../src/executor/task.js';
import { resolveUser } from '../../src/executor/user.js';

const root = process.getuid?.() === 0;
const nobody = root ? resolveUser('nobody') : null;

function cmd(argv: string[], extra: Partial<CommandTask> = {}): CommandTask {
  return { kind: 'command', argv, shell: false, cwd: '/', ...extra };
}

describe('resolveUser', () => {
  it('agrees with id(1) for a name and for a uid', () => {
    const who = resolveUser('root');
    expect(who).toMatchObject({ name: 'root', uid: 0, gid: 0 });
    expect(resolveUser('0')?.name).toBe(execFileSync('id', ['-un', '0'], { encoding: 'utf8' }).trim());
  });

  it('returns null for a user this host does not know', () => {
    expect(resolveUser('cronfleet-no-such-user')).toBeNull();
    expect(resolveUser('4000000000')).toBeNull();
  });
});

describe.runIf(root)('running as another user, as root', () => {
  it('drops to the named user with its uid, gid, HOME, USER and LOGNAME', async () => {
    const uid = execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim();
    const r = await startTask(cmd(['sh', '-c', 'id -u; id -g; echo "$USER $LOGNAME $HOME"'], { user: 'nobody' })).done;
    expect(r.error).toBeNull();
    expect(r.stdout).toBe(`${uid}\n${gid}\nnobody nobody ${nobody!.home}\n`);
  });

  it('accepts a numeric uid', async () => {
    const r = await startTask(cmd(['id', '-un'], { user: String(nobody!.uid) })).done;
    expect(r.stdout.trim()).toBe('nobody');
  });

  it('ends in an error result when the user may not execute the program', async () => {
    // Root passes the executable check; only the child, after switching to nobody, is refused
    // by exec, and spawn reports that asynchronously.
    const dir = mkdtempSync(join(tmpdir(), 'cronfleet-private-'));
    chmodSync(dir, 0o755);
    const program = join(dir, 'root-only.sh');
    writeFileSync(program, '#!/bin/sh\necho ran\n');
    chmodSync(program, 0o700);
    try {
      const r = await startTask(cmd([program], { user: 'nobody' })).done;
      expect(r).toMatchObject({ exitCode: null, signal: null, stdout: '' });
      expect(r.error).toMatch(/could not spawn .*EACCES/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a negative nice together with a user, since the user could not apply it', async () => {
    const r = await startTask(cmd(['id', '-u'], { user: 'nobody', nice: -5 })).done;
    expect(r).toMatchObject({ exitCode: null, stdout: '' });
    expect(r.error).toMatch(/nice -5 cannot be combined with user "nobody"/);
  });
});

it('reports an unknown user without running anything', async () => {
  const r = await startTask(cmd(['id', '-u'], { user: 'cronfleet-no-such-user' })).done;
  expect(r).toMatchObject({ exitCode: null, stdout: '' });
  expect(r.error).toMatch(/user "cronfleet-no-such-user" does not exist on this host/);
});

/**
 * The refusal to run as someone else without root can only be seen from an unprivileged
 * process: the executor is compiled to plain JavaScript and run by node as nobody.
 */
describe.runIf(root)('running as another user, without root', () => {
  let build = '';
  afterAll(() => rmSync(build, { recursive: true, force: true }));

  beforeAll(() => {
    build = mkdtempSync(join(tmpdir(), 'cronfleet-user-'));
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [
      tsc, '--outDir', build, '--rootDir', 'src', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--skipLibCheck', '--types', 'node', '--strict', 'src/executor/run-task.ts', 'src/executor/launcher-helper.ts',
    ], { stdio: 'pipe' });
    chmodSync(build, 0o755);
  }, 120_000);

  function runAsNobody(user: string): TaskResult {
    const url = pathToFileURL(join(build, 'executor', 'run-task.js')).href;
    const script = `const { startTask } = await import(${JSON.stringify(url)});
      const r = await startTask({ kind: 'command', argv: ['id', '-u'], shell: false, cwd: '/', user: ${JSON.stringify(user)} }).done;
      process.stdout.write(JSON.stringify(r));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      uid: nobody!.uid, gid: nobody!.gid, cwd: '/', encoding: 'utf8', timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    return JSON.parse(child.stdout) as TaskResult;
  }

  it('refuses to run as another user with a clear error instead of running as itself', () => {
    const r = runAsNobody('root');
    expect(r).toMatchObject({ exitCode: null, stdout: '' });
    expect(r.error).toMatch(new RegExp(`cannot run as user "root" \\(uid 0\\): this node runs as uid ${nobody!.uid} and only root can switch users`));
  });

  it('runs normally when the user is the one it already runs as', () => {
    const r = runAsNobody('nobody');
    expect(r).toMatchObject({ exitCode: 0, error: null, stdout: `${nobody!.uid}\n` });
  });
});
