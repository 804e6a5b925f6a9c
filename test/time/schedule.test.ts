import { describe, expect, it } from 'vitest';
import { compileSchedule, formatInstant, parseExpression } from '../../src/time/index.js';
import { ENGINE_LIMIT, engineCount } from '../../src/time/engine.js';

const utc = (expr: string, from: string, n: number, name = 'unit') =>
  compileSchedule(expr, { timezone: 'UTC', name })
    .next(Date.parse(from), n)
    .map((ms) => formatInstant(ms, 'UTC'));

describe('Vixie day-of-month / day-of-week rule', () => {
  it('neither field starts with *: either matching is enough (1st, 15th or any Monday)', () => {
    expect(utc('0 0 1,15 * MON', '2027-02-01T00:00:00Z', 4)).toEqual([
      '2027-02-08T00:00:00+00:00',
      '2027-02-15T00:00:00+00:00',
      '2027-02-22T00:00:00+00:00',
      '2027-03-01T00:00:00+00:00',
    ]);
  });
  it('a field starting with * (*/2) makes both apply: odd dates that are Mondays', () => {
    expect(utc('0 0 */2 * 1', '2027-01-01T00:00:00Z', 3)).toEqual([
      '2027-01-11T00:00:00+00:00',
      '2027-01-25T00:00:00+00:00',
      '2027-02-01T00:00:00+00:00',
    ]);
  });
  it('? behaves as * in both day fields', () => {
    expect(utc('0 0 ? * 5', '2027-01-01T00:00:00Z', 2)).toEqual(utc('0 0 * * 5', '2027-01-01T00:00:00Z', 2));
    expect(utc('0 0 13 * ?', '2027-01-01T00:00:00Z', 2)).toEqual(['2027-01-13T00:00:00+00:00', '2027-02-13T00:00:00+00:00']);
  });
  it('0 and 7 are both Sunday, and names are case-insensitive', () => {
    const sundays = utc('0 0 * * 0', '2027-01-01T00:00:00Z', 3);
    expect(utc('0 0 * * 7', '2027-01-01T00:00:00Z', 3)).toEqual(sundays);
    expect(utc('0 0 * * sun', '2027-01-01T00:00:00Z', 3)).toEqual(sundays);
    expect(sundays[0]).toBe('2027-01-03T00:00:00+00:00');
    expect(utc('0 0 1 jan,Jul *', '2027-01-01T00:00:00Z', 2)).toEqual(['2027-07-01T00:00:00+00:00', '2028-01-01T00:00:00+00:00']);
  });
});

describe('H: a stable spread seeded by the schedule name', () => {
  it('the same name gives the same instants on every compile', () => {
    expect(utc('H H * * *', '2027-01-01T00:00:00Z', 3, 'report')).toEqual(utc('H H * * *', '2027-01-01T00:00:00Z', 3, 'report'));
  });
  it('a thousand hourly schedules do not pile onto minute 0', () => {
    const minutes = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const at = compileSchedule('H * * * *', { timezone: 'UTC', name: `job-${i}` }).nextAfter(Date.UTC(2027, 0, 1));
      minutes.add(new Date(at!).getUTCMinutes());
    }
    // 1000 draws over 60 minutes: a fair hash leaves no minute empty.
    expect(minutes.size).toBe(60);
  });
  it('H/15 keeps the step and H(0-29) stays in its range', () => {
    const runs = compileSchedule('H/15 * * * *', { timezone: 'UTC', name: 'poll' }).next(Date.UTC(2027, 0, 1), 4);
    expect(runs[1]! - runs[0]!).toBe(15 * 60_000);
    expect(new Date(runs[0]!).getUTCMinutes()).toBeLessThan(15);
    for (let i = 0; i < 200; i++) {
      const at = compileSchedule('H(0-29) 3 * * *', { timezone: 'UTC', name: `n${i}` }).nextAfter(Date.UTC(2027, 0, 1));
      expect(new Date(at!).getUTCMinutes()).toBeLessThanOrEqual(29);
    }
  });
  it('H in day-of-month stays within 1-28 so every month has the day', () => {
    for (let i = 0; i < 200; i++) {
      const at = compileSchedule('0 0 H * *', { timezone: 'UTC', name: `m${i}` }).nextAfter(Date.UTC(2027, 0, 1));
      expect(new Date(at!).getUTCDate()).toBeLessThanOrEqual(28);
    }
  });
  it('THU (a name containing H) is not a hash', () => {
    expect(utc('0 0 * * THU', '2027-01-01T00:00:00Z', 1, 'a')).toEqual(utc('0 0 * * THU', '2027-01-01T00:00:00Z', 1, 'b'));
  });
});

describe('@every and macros', () => {
  it('@every counts from the Unix epoch, whatever the starting point', () => {
    const s = compileSchedule('@every 7m', { timezone: 'Europe/Berlin', name: 'e' });
    const next = s.nextAfter(Date.UTC(2027, 0, 1, 0, 0, 1))!;
    expect(next % (7 * 60_000)).toBe(0);
    expect(s.previousBefore(next)).toBe(next - 7 * 60_000);
    expect(s.nextAfter(next)).toBe(next + 7 * 60_000);
  });
  it('macros are the expressions they stand for', () => {
    const from = '2027-05-05T05:05:00Z';
    expect(utc('@yearly', from, 1)).toEqual(utc('0 0 1 1 *', from, 1));
    expect(utc('@annually', from, 1)).toEqual(utc('0 0 1 1 *', from, 1));
    expect(utc('@monthly', from, 1)).toEqual(['2027-06-01T00:00:00+00:00']);
    expect(utc('@weekly', from, 1)).toEqual(['2027-05-09T00:00:00+00:00']);
    expect(utc('@daily', from, 1)).toEqual(utc('@midnight', from, 1));
    expect(utc('@hourly', from, 1)).toEqual(['2027-05-05T06:00:00+00:00']);
  });
});

describe('instants are strictly after / strictly before', () => {
  const s = compileSchedule('0 0 * * *', { timezone: 'UTC', name: 'strict' });
  const midnight = Date.UTC(2027, 0, 2);
  it('an exact match is not "after" itself, and milliseconds count', () => {
    expect(s.nextAfter(midnight)).toBe(midnight + 86_400_000);
    expect(s.nextAfter(midnight - 1)).toBe(midnight);
    expect(s.previousBefore(midnight)).toBe(midnight - 86_400_000);
    expect(s.previousBefore(midnight + 1)).toBe(midnight);
  });
  it('seconds schedules: six fields, strictly after a fractional second', () => {
    const sec = compileSchedule('*/10 * * * * *', { timezone: 'UTC', name: 's' });
    expect(sec.nextAfter(Date.UTC(2027, 0, 1, 0, 0, 10, 500))).toBe(Date.UTC(2027, 0, 1, 0, 0, 20));
  });
  it('next(n) returns n increasing instants and rejects non-finite input', () => {
    const runs = s.next(midnight, 5);
    expect(runs).toHaveLength(5);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!).toBeGreaterThan(runs[i - 1]!);
    expect(() => s.nextAfter(Number.NaN)).toThrow(RangeError);
  });
});

describe('sharing and bounds', () => {
  it('schedules with the same expression and zone share one compiled object unless H is used', () => {
    const a = compileSchedule('*/5 * * * *', { timezone: 'UTC', name: 'a' });
    const b = compileSchedule('*/5 * * * *', { timezone: 'UTC', name: 'b' });
    expect(a).toBe(b);
    const ha = compileSchedule('H * * * *', { timezone: 'UTC', name: 'a' });
    const hb = compileSchedule('H * * * *', { timezone: 'UTC', name: 'b' });
    expect(ha).not.toBe(hb);
  });
  it('equivalent spellings render to one croner pattern', () => {
    const weekly = parseExpression('@weekly', 'x');
    expect(parseExpression('0 0 * * SUN', 'x')).toEqual(weekly);
    expect(parseExpression('0 0 * * 7', 'x')).toEqual(weekly);
  });
  it('10,000 schedules with distinct names keep the engine cache bounded', () => {
    for (let i = 0; i < 10_000; i++) {
      compileSchedule('H H * * *', { timezone: 'America/New_York', name: `bulk-${i}` }).nextAfter(Date.UTC(2027, 0, 1));
    }
    expect(engineCount()).toBeLessThanOrEqual(ENGINE_LIMIT);
  }, 120_000);
});

describe('which schedules follow real time across DST', () => {
  it.each([
    ['0 * * * *', true],
    ['0 */2 * * *', true],
    ['0 H/6 * * *', true],
    ['0 2 * * *', false],
    ['0 2,14 * * *', false],
    ['0 1-3 * * *', false],
    ['0 H * * *', false],
    ['*/5 2 * * *', false],
  ])('%s: real time %s', (expr, realTime) => {
    const parsed = parseExpression(expr, 'rt');
    expect(parsed.kind === 'cron' && parsed.realTime).toBe(realTime);
  });
});
