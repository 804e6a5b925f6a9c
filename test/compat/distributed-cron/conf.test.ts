import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { ConfigError, UsageError } from '../../../src/errors.js';
import { parseClientConf, parseWorkerConf } from '../../../src/compat/distributed-cron/conf.js';
import { RecentIds } from '../../../src/compat/distributed-cron/recent.js';
import { checkUniqueFormat, uniqueFor } from '../../../src/compat/distributed-cron/unique.js';
import { perlServerIndex } from '../../../src/gearman/client.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('distributed-cron conf.json', () => {
  it('reads the seed client conf, with ports as numbers or strings and 4730 by default', () => {
    const c = parseClientConf({ job_servers: [{ server: 'gm1', port: 4730 }, { server: 'gm2', port: '4731' }, { server: 'gm3' }] }, 'c.json');
    expect(c.servers).toEqual([
      { host: 'gm1', port: 4730 },
      { host: 'gm2', port: 4731 },
      { host: 'gm3', port: 4730 },
    ]);
  });

  it('reads the seed worker conf with its jobs map and debug flag in Perl truthiness', () => {
    const w = parseWorkerConf({ job_servers: [{ server: '127.0.0.1', port: 4730 }], jobs: { backup: '/usr/local/bin/backup.sh' }, debug: 1 }, 'w.json');
    expect(w.jobs).toEqual({ backup: '/usr/local/bin/backup.sh' });
    expect(w.debug).toBe(true);
    expect(parseWorkerConf({ job_servers: [{ server: 'h' }], jobs: {} }, 'w.json').debug).toBe(false);
  });

  it('names the field and the expected form when a value is wrong', () => {
    const e1 = configError(() => parseClientConf({ job_servers: [{ server: 'a', port: 99999 }] }, '/etc/c.json'));
    expect(e1.path).toBe('job_servers.0.port');
    expect(e1.file).toBe('/etc/c.json');
    const e2 = configError(() => parseClientConf({ job_servers: [] }, 'c.json'));
    expect(e2.message).toMatch(/job_servers: expected at least one \{"server": host, "port": number\}/);
    const e3 = configError(() => parseWorkerConf({ job_servers: [{ server: 'a' }], jobs: { backup: 'backup.sh' } }, 'w.json'));
    expect(e3.path).toBe('jobs.backup');
    expect(e3.message).toMatch(/expected the absolute path of the script to run/);
    const e4 = configError(() => parseWorkerConf({ job_servers: [{ server: 'a', port: 'http' }], jobs: {} }, 'w.json'));
    expect(e4.path).toBe('job_servers.0.port');
    expect(configError(() => parseWorkerConf({ job_servers: [{ server: 'a' }] }, 'w.json')).path).toBe('jobs');
  });
});

describe('unique ids', () => {
  const at = new Date('2026-11-23T10:05:42.123Z');
  it('default is task@minute in UTC', () => {
    expect(uniqueFor('backup', at)).toBe('backup@2026-11-23T10:05Z');
    expect(uniqueFor('backup', new Date('2026-11-23T12:05:00+02:00'))).toBe('backup@2026-11-23T10:05Z');
  });
  it('follows the format, or none', () => {
    expect(uniqueFor('backup', at, '{task}/{hour}')).toBe('backup/2026-11-23T10Z');
    expect(uniqueFor('backup', at, '{task}:{epochminute}')).toBe(`backup:${Math.floor(at.getTime() / 60000)}`);
    expect(uniqueFor('backup', at, 'none')).toBeUndefined();
  });
  it('refuses unknown tokens and ids beyond 64 bytes', () => {
    expect(() => checkUniqueFormat('{task}@{minutes}')).toThrow(UsageError);
    expect(() => checkUniqueFormat('{task}@{minutes}')).toThrow(/unknown token \{minutes\}/);
    const long = 'x'.repeat(46);
    expect(Buffer.byteLength(uniqueFor(long, at)!)).toBe(64);
    expect(() => uniqueFor(`${long}y`, at)).toThrow(/65 bytes: gearmand accepts at most 64/);
  });
});

describe('recently finished ids', () => {
  it('remembers an id for the window and forgets it after', () => {
    const clock = new ManualClock(0);
    const r = new RecentIds(clock, 60_000);
    r.add('a@1');
    clock.advance(59_999);
    expect(r.has('a@1')).toBe(true);
    clock.advance(1);
    expect(r.has('a@1')).toBe(false);
  });
  it('drops expired ids on the next add, so memory follows the window even for ids never asked about', () => {
    const clock = new ManualClock(0);
    const r = new RecentIds(clock, 60_000);
    for (let i = 0; i < 1000; i++) r.add(`t@${i}`);
    clock.advance(30_000);
    r.add('t@late');
    expect(r.size).toBe(1001);
    clock.advance(30_000);
    r.add('t@next');
    expect(r.size).toBe(2);
    expect(r.has('t@late')).toBe(true);
  });
  it('keeps at most maxEntries, dropping the oldest', () => {
    const r = new RecentIds(new ManualClock(0), 60_000, 3);
    for (const id of ['a', 'b', 'c', 'd']) r.add(id);
    expect(r.size).toBe(3);
    expect(r.has('a')).toBe(false);
    expect(r.has('d')).toBe(true);
  });
});

describe('server choice', () => {
  it('matches Perl Gearman::Task::hash: (crc32(uniq) >> 16) & 0x7fff, modulo the server count', () => {
    // crc32("backup@2026-11-23T10:05Z") computed independently with Python's zlib.crc32.
    const crc = 0x7ddbee41;
    expect(perlServerIndex('backup@2026-11-23T10:05Z', 3)).toBe(((crc >>> 16) & 0x7fff) % 3);
  });
});
