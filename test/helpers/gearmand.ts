/**
 * Starts a real gearmand (Debian gearman-job-server) on a free port for integration tests.
 * The pid file goes to a temp dir: `--pid-file=/dev/null` would make gearmand delete /dev/null.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const GEARMAND = '/usr/sbin/gearmand';

export interface Gearmand {
  host: string;
  port: number;
  proc: ChildProcess;
  /** Everything gearmand wrote to stderr (its log). */
  log(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a job server that dies without goodbye. */
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, stepMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Starts gearmand; `port` reuses a port (restarting a server that was stopped). */
export async function startGearmand(opts: { port?: number; extraArgs?: string[] } = {}): Promise<Gearmand> {
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-gearmand-'));
    const proc = spawn(
      GEARMAND,
      ['--listen=127.0.0.1', `--port=${port}`, '--log-file=stderr', `--pid-file=${path.join(dir, 'gearmand.pid')}`, '--threads=1', ...(opts.extraArgs ?? [])],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    let dead = false;
    void exited.then(() => {
      dead = true;
      rmSync(dir, { recursive: true, force: true });
    });
    try {
      await waitFor(async () => dead || (await canConnect('127.0.0.1', port)), `gearmand on port ${port}`);
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
    if (dead) {
      // Another test grabbed the port between freePort() and gearmand's bind: pick a new one.
      if (opts.port === undefined && attempt < 5) continue;
      throw new Error(`gearmand exited before accepting on port ${port}:\n${log}`);
    }
    const end = async (sig: NodeJS.Signals) => {
      if (!dead) {
        proc.kill(sig);
        await exited;
      }
    };
    return { host: '127.0.0.1', port, proc, log: () => log, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
  }
}
