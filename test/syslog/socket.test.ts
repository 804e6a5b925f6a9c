import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ConfigError } from '../../src/errors.js';
import { openSyslog } from '../../src/syslog/socket.js';
import { DatagramReceiver } from './receiver.js';

const receivers: DatagramReceiver[] = [];
afterEach(() => {
  for (const r of receivers.splice(0)) r.close();
});

function receiver(): DatagramReceiver {
  const r = new DatagramReceiver();
  receivers.push(r);
  return r;
}

describe('openSyslog on a real datagram socket', () => {
  it('sends the exact RFC 3164 bytes, one datagram per message', async () => {
    const r = receiver();
    const clock = new ManualClock(new Date(2024, 2, 7, 8, 9, 10));
    const log = openSyslog({ path: r.path, facility: 'LOG_CRON', tag: 'rcron', pid: 321, clock });
    log.send('LOG_INFO', 'first');
    clock.advance(61_000);
    log.send('warning', 'second');
    await log.close();
    expect(await r.waitFor(2)).toEqual([
      '<78>Mar  7 08:09:10 rcron[321]: first',
      '<76>Mar  7 08:10:11 rcron[321]: second',
    ]);
  });

  it('accepts numeric facility and level', async () => {
    const r = receiver();
    const clock = new ManualClock(new Date(2024, 9, 20, 1, 2, 3));
    const log = openSyslog({ path: r.path, facility: 16, tag: 'x', pid: 1, clock });
    log.send(3, 'boom');
    await log.close();
    expect(await r.waitFor(1)).toEqual(['<131>Oct 20 01:02:03 x[1]: boom']);
  });

  it('uses the process pid by default', async () => {
    const r = receiver();
    const log = openSyslog({ path: r.path, facility: 'user', tag: 'cronfleet' });
    log.send('info', 'hi');
    await log.close();
    const [text] = await r.waitFor(1);
    expect(text).toMatch(new RegExp(`^<14>[A-Z][a-z]{2} [ 0-9]\\d \\d\\d:\\d\\d:\\d\\d cronfleet\\[${process.pid}\\]: hi$`));
  });

  it('rejects an unknown facility at open and an unknown level at send', async () => {
    expect(() => openSyslog({ facility: 'LOG_NOPE', tag: 't' })).toThrow(ConfigError);
    const r = receiver();
    const log = openSyslog({ path: r.path, facility: 'cron', tag: 't' });
    expect(() => log.send('LOUD', 'x')).toThrow(/"LOUD" is not a syslog level/);
    await log.close();
  });

  it('does not throw when the socket is missing and says so on stderr once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cf-syslog-missing-'));
    const written: string[] = [];
    const log = openSyslog({ path: join(dir, 'nothing-here'), facility: 'cron', tag: 'rcron', stderr: { write: (t: string) => written.push(t) } });
    log.send('info', 'one');
    log.send('info', 'two');
    await log.close();
    rmSync(dir, { recursive: true, force: true });
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^rcron: syslog: cannot connect to .*nothing-here: ENOENT; messages to .* are being dropped\n$/);
  });

  it('flushes messages queued behind a full socket before close resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cf-syslog-full-'));
    const path = join(dir, 'log');
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/receiver-child.mjs'), path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let lines: string[] = [];
      let buffered = '';
      let onLine: () => void = () => {};
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        buffered += chunk;
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        lines.push(...parts);
        onLine();
      });
      const until = (pred: () => boolean): Promise<void> =>
        new Promise((resolve) => {
          onLine = () => pred() && resolve();
          onLine();
        });
      await until(() => lines.includes('ready'));
      lines = [];
      // A stopped daemon drains nothing: the kernel queue (net.unix.max_dgram_qlen, 10 by default) fills.
      child.kill('SIGSTOP');
      const n = 3000;
      const log = openSyslog({ path, facility: 'cron', tag: 't', pid: 1 });
      for (let i = 0; i < n; i++) log.send('info', `m${i}`);
      let closed = false;
      const closing = log.close().then(() => {
        closed = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(closed).toBe(false);
      child.kill('SIGCONT');
      await closing;
      await until(() => lines.length >= n);
      expect(lines[0]).toMatch(/ t\[1\]: m0$/);
      expect(lines[n - 1]).toMatch(new RegExp(` t\\[1\\]: m${n - 1}$`));
      expect(new Set(lines).size).toBe(n);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
