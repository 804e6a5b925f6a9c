import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface ServerSocket {
  bind(path: string): void;
  on(event: 'message', fn: (buf: Buffer) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  close(): void;
}

/** A real Unix datagram socket bound in a temp dir, standing in for the syslog daemon. */
export class DatagramReceiver {
  readonly dir: string;
  readonly path: string;
  readonly messages: Buffer[] = [];
  private readonly sock: ServerSocket;
  private waiters: Array<() => void> = [];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'cf-syslog-'));
    this.path = join(this.dir, 'log');
    const addon = createRequire(import.meta.url)('unix-dgram') as { createSocket(t: 'unix_dgram'): ServerSocket };
    this.sock = addon.createSocket('unix_dgram');
    this.sock.on('message', (buf) => {
      this.messages.push(Buffer.from(buf));
      for (const w of this.waiters.splice(0)) w();
    });
    this.sock.bind(this.path);
  }

  texts(): string[] {
    return this.messages.map((m) => m.toString('utf8'));
  }

  /** Resolves once `n` datagrams have arrived; rejects after `timeoutMs` with what did arrive. */
  async waitFor(n: number, timeoutMs = 20_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} datagrams, got ${this.messages.length}: ${JSON.stringify(this.texts())}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.texts();
  }

  close(): void {
    this.sock.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
