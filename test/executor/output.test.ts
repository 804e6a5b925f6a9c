import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { LogFile, TailBuffer } from '../../src/executor/output.js';

const dir = mkdtempSync(join(tmpdir(), 'cronfleet-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TailBuffer', () => {
  it('keeps everything below the limit', () => {
    const t = new TailBuffer(10);
    t.push(Buffer.from('abc'));
    t.push(Buffer.from('def'));
    expect(t.text()).toBe('abcdef');
    expect(t.byteLength).toBe(6);
  });

  it('keeps exactly the last limit bytes across chunk boundaries', () => {
    const t = new TailBuffer(5);
    for (const c of ['abc', 'defg', 'h', 'ijk']) t.push(Buffer.from(c));
    expect(t.text()).toBe('ghijk');
    expect(t.byteLength).toBe(5);
  });

  it('takes the end of a single chunk larger than the limit', () => {
    const t = new TailBuffer(4);
    t.push(Buffer.from('ab'));
    t.push(Buffer.from('0123456789'));
    expect(t.text()).toBe('6789');
  });

  it('matches a plain concatenation for many random chunks', () => {
    const t = new TailBuffer(1000);
    const all: Buffer[] = [];
    let seed = 7;
    for (let i = 0; i < 500; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const chunk = Buffer.alloc(seed % 97, 97 + (i % 26));
      all.push(chunk);
      t.push(chunk);
    }
    const whole = Buffer.concat(all);
    expect(t.bytes().equals(whole.subarray(whole.length - 1000))).toBe(true);
  });

  it('drops the rest of a UTF-8 character whose first bytes were trimmed', () => {
    // 'xé€ab' is 78 | c3 a9 | e2 82 ac | 61 62: cut points at, one and two bytes into a character.
    const tail = (limit: number) => {
      const t = new TailBuffer(limit);
      t.push(Buffer.from('xé€ab'));
      expect(t.byteLength).toBe(limit);
      return t.text();
    };
    expect(tail(5)).toBe('€ab');
    expect(tail(6)).toBe('€ab');
    expect(tail(4)).toBe('ab');
    expect(tail(3)).toBe('ab');
  });

  it('decodes invalid bytes leniently when nothing was trimmed', () => {
    const t = new TailBuffer(10);
    t.push(Buffer.from([0x80, 0x41]));
    expect(t.text()).toBe('\ufffdA');
  });
});

describe('LogFile', () => {
  it('creates missing directories and appends what it is given, in order', async () => {
    const path = join(dir, 'deep', 'er', 'run.log');
    const first = new LogFile(path);
    first.write(Buffer.from('one\n'));
    expect(await first.close()).toBeNull();
    const second = new LogFile(path);
    second.write(Buffer.from('two\n'));
    second.write(Buffer.from('three\n'));
    expect(await second.close()).toBeNull();
    expect(readFileSync(path, 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it('pauses its sources while the file lags and resumes them once it drains', async () => {
    const path = join(dir, 'backpressure.log');
    const log = new LogFile(path);
    const source = new PassThrough();
    let pauses = 0;
    source.on('pause', () => pauses++);
    log.follow(source);
    source.on('data', (c: Buffer) => log.write(c));
    const chunk = Buffer.alloc(64 * 1024, 'z');
    source.write(chunk);
    source.write(chunk);
    source.end();
    // A paused source only reaches its end if the log resumed it.
    await new Promise((r) => source.once('end', r));
    expect(pauses).toBeGreaterThan(0);
    expect(await log.close()).toBeNull();
    expect(readFileSync(path).length).toBe(2 * chunk.length);
  });

  it('reports a log it could not open instead of throwing', async () => {
    const log = new LogFile('/proc/version/cannot.log');
    log.write(Buffer.from('lost'));
    expect(await log.close()).toMatch(/could not write the output log \/proc\/version\/cannot\.log/);
  });
});
