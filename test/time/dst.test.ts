import { describe, expect, it } from 'vitest';
import { compileSchedule, formatInstant } from '../../src/time/index.js';

/**
 * DESIGN.md invariant 4, one named case per rule and zone. Expected instants are written as
 * local wall time with the offset in force, which is how an operator reads a schedule.
 */
function upcoming(expr: string, tz: string, from: string, n: number): string[] {
  const s = compileSchedule(expr, { timezone: tz, name: 'dst-case' });
  return s.next(Date.parse(from), n).map((ms) => formatInstant(ms, tz));
}

function before(expr: string, tz: string, at: string): string | null {
  const ms = compileSchedule(expr, { timezone: tz, name: 'dst-case' }).previousBefore(Date.parse(at));
  return ms === null ? null : formatInstant(ms, tz);
}

describe('America/New_York (2027-03-14 02:00 -> 03:00, 2027-11-07 02:00 -> 01:00)', () => {
  const tz = 'America/New_York';
  it('spring forward: a fixed time in the gap runs once at the first instant after it', () => {
    expect(upcoming('30 2 * * *', tz, '2027-03-13T12:00:00-05:00', 3)).toEqual([
      '2027-03-14T03:00:00-04:00',
      '2027-03-15T02:30:00-04:00',
      '2027-03-16T02:30:00-04:00',
    ]);
  });
  it('spring forward: an hour list whose gap hour lands on the next listed hour runs once there', () => {
    expect(upcoming('0 1,2,3 * * *', tz, '2027-03-14T00:00:00-05:00', 4)).toEqual([
      '2027-03-14T01:00:00-05:00',
      '2027-03-14T03:00:00-04:00',
      '2027-03-15T01:00:00-04:00',
      '2027-03-15T02:00:00-04:00',
    ]);
  });
  it('spring forward: minutes stepping inside a fixed hour collapse onto one run after the gap', () => {
    expect(upcoming('*/20 2 * * *', tz, '2027-03-14T00:00:00-05:00', 4)).toEqual([
      '2027-03-14T03:00:00-04:00',
      '2027-03-15T02:00:00-04:00',
      '2027-03-15T02:20:00-04:00',
      '2027-03-15T02:40:00-04:00',
    ]);
  });
  it('spring forward: hour * follows real time and skips the missing hour', () => {
    expect(upcoming('30 * * * *', tz, '2027-03-14T00:00:00-05:00', 4)).toEqual([
      '2027-03-14T00:30:00-05:00',
      '2027-03-14T01:30:00-05:00',
      '2027-03-14T03:30:00-04:00',
      '2027-03-14T04:30:00-04:00',
    ]);
  });
  it('spring forward: hour */2 is real time too, so 02:00 does not exist and does not run', () => {
    expect(upcoming('0 */2 * * *', tz, '2027-03-13T23:00:00-05:00', 3)).toEqual([
      '2027-03-14T00:00:00-05:00',
      '2027-03-14T04:00:00-04:00',
      '2027-03-14T06:00:00-04:00',
    ]);
  });
  it('fall back: a fixed time that occurs twice runs once, at its first occurrence', () => {
    expect(upcoming('30 1 * * *', tz, '2027-11-06T12:00:00-04:00', 2)).toEqual([
      '2027-11-07T01:30:00-04:00',
      '2027-11-08T01:30:00-05:00',
    ]);
  });
  it('fall back: stepping minutes in a fixed hour run in the first pass only', () => {
    expect(upcoming('*/30 1 * * *', tz, '2027-11-07T00:00:00-04:00', 3)).toEqual([
      '2027-11-07T01:00:00-04:00',
      '2027-11-07T01:30:00-04:00',
      '2027-11-08T01:00:00-05:00',
    ]);
  });
  it('fall back: hour * runs in both passes of the repeated hour', () => {
    expect(upcoming('30 * * * *', tz, '2027-11-07T00:00:00-04:00', 4)).toEqual([
      '2027-11-07T00:30:00-04:00',
      '2027-11-07T01:30:00-04:00',
      '2027-11-07T01:30:00-05:00',
      '2027-11-07T02:30:00-05:00',
    ]);
  });
  it('fall back: seconds-precision schedules with hour * keep real time', () => {
    expect(upcoming('0 0,30 * * * *', tz, '2027-11-07T01:15:00-04:00', 4)).toEqual([
      '2027-11-07T01:30:00-04:00',
      '2027-11-07T01:00:00-05:00',
      '2027-11-07T01:30:00-05:00',
      '2027-11-07T02:00:00-05:00',
    ]);
  });
  it('previousBefore agrees with nextAfter across both transitions', () => {
    expect(before('30 2 * * *', tz, '2027-03-14T03:00:01-04:00')).toBe('2027-03-14T03:00:00-04:00');
    expect(before('30 1 * * *', tz, '2027-11-07T01:45:00-05:00')).toBe('2027-11-07T01:30:00-04:00');
    expect(before('30 * * * *', tz, '2027-11-07T01:45:00-05:00')).toBe('2027-11-07T01:30:00-05:00');
    expect(before('30 * * * *', tz, '2027-11-07T01:29:00-05:00')).toBe('2027-11-07T01:30:00-04:00');
    expect(before('30 * * * *', tz, '2027-03-14T03:30:00-04:00')).toBe('2027-03-14T01:30:00-05:00');
  });
  it('@every keeps real spacing through the gap', () => {
    expect(upcoming('@every 1h', tz, '2027-03-14T00:30:00-05:00', 3)).toEqual([
      '2027-03-14T01:00:00-05:00',
      '2027-03-14T03:00:00-04:00',
      '2027-03-14T04:00:00-04:00',
    ]);
  });
});

describe('Europe/Berlin (2027-03-28 02:00 -> 03:00, 2027-10-31 03:00 -> 02:00)', () => {
  const tz = 'Europe/Berlin';
  it('spring forward: 02:30 runs once at 03:00', () => {
    expect(upcoming('30 2 * * *', tz, '2027-03-27T12:00:00+01:00', 2)).toEqual([
      '2027-03-28T03:00:00+02:00',
      '2027-03-29T02:30:00+02:00',
    ]);
  });
  it('spring forward: hour * skips 02:15', () => {
    expect(upcoming('15 * * * *', tz, '2027-03-28T01:00:00+01:00', 2)).toEqual([
      '2027-03-28T01:15:00+01:00',
      '2027-03-28T03:15:00+02:00',
    ]);
  });
  it('fall back: 02:30 runs once, in summer time', () => {
    expect(upcoming('30 2 * * *', tz, '2027-10-30T12:00:00+02:00', 2)).toEqual([
      '2027-10-31T02:30:00+02:00',
      '2027-11-01T02:30:00+01:00',
    ]);
  });
  it('fall back: hour * runs 02:00 twice', () => {
    expect(upcoming('0 * * * *', tz, '2027-10-31T01:30:00+02:00', 3)).toEqual([
      '2027-10-31T02:00:00+02:00',
      '2027-10-31T02:00:00+01:00',
      '2027-10-31T03:00:00+01:00',
    ]);
  });
});

describe('Australia/Lord_Howe (30-minute DST: 2027-10-03 02:00 -> 02:30, 2027-04-04 02:00 -> 01:30)', () => {
  const tz = 'Australia/Lord_Howe';
  it('spring forward: 02:00 and 02:15 are in the half-hour gap and run at 02:30', () => {
    expect(upcoming('0 2 * * *', tz, '2027-10-02T12:00:00+10:30', 2)).toEqual([
      '2027-10-03T02:30:00+11:00',
      '2027-10-04T02:00:00+11:00',
    ]);
    expect(upcoming('15 2 * * *', tz, '2027-10-02T12:00:00+10:30', 1)).toEqual(['2027-10-03T02:30:00+11:00']);
  });
  it('spring forward: 02:45 exists and runs at 02:45', () => {
    expect(upcoming('45 2 * * *', tz, '2027-10-02T12:00:00+10:30', 1)).toEqual(['2027-10-03T02:45:00+11:00']);
  });
  it('spring forward: hour * skips 02:15 but keeps 02:45', () => {
    expect(upcoming('15,45 * * * *', tz, '2027-10-03T01:00:00+10:30', 4)).toEqual([
      '2027-10-03T01:15:00+10:30',
      '2027-10-03T01:45:00+10:30',
      '2027-10-03T02:45:00+11:00',
      '2027-10-03T03:15:00+11:00',
    ]);
  });
  it('fall back: 01:45 occurs twice and a fixed schedule runs at the first', () => {
    expect(upcoming('45 1 * * *', tz, '2027-04-03T12:00:00+11:00', 2)).toEqual([
      '2027-04-04T01:45:00+11:00',
      '2027-04-05T01:45:00+10:30',
    ]);
  });
  it('fall back: hour * runs 01:45 in both passes but 01:15 (not repeated) once', () => {
    expect(upcoming('15,45 * * * *', tz, '2027-04-04T01:00:00+11:00', 4)).toEqual([
      '2027-04-04T01:15:00+11:00',
      '2027-04-04T01:45:00+11:00',
      '2027-04-04T01:45:00+10:30',
      '2027-04-04T02:15:00+10:30',
    ]);
  });
});

describe('Pacific/Chatham (+12:45 / +13:45: 2027-09-26 02:45 -> 03:45, 2027-04-04 03:45 -> 02:45)', () => {
  const tz = 'Pacific/Chatham';
  it('spring forward: 03:00 is in the gap and runs at 03:45; 02:30 is before it', () => {
    expect(upcoming('0 3 * * *', tz, '2027-09-25T12:00:00+12:45', 2)).toEqual([
      '2027-09-26T03:45:00+13:45',
      '2027-09-27T03:00:00+13:45',
    ]);
    expect(upcoming('30 2 * * *', tz, '2027-09-25T12:00:00+12:45', 1)).toEqual(['2027-09-26T02:30:00+12:45']);
  });
  it('fall back: 03:00 runs once; hour * runs it twice', () => {
    expect(upcoming('0 3 * * *', tz, '2027-04-03T12:00:00+13:45', 2)).toEqual([
      '2027-04-04T03:00:00+13:45',
      '2027-04-05T03:00:00+12:45',
    ]);
    expect(upcoming('0 * * * *', tz, '2027-04-04T02:30:00+13:45', 3)).toEqual([
      '2027-04-04T03:00:00+13:45',
      '2027-04-04T03:00:00+12:45',
      '2027-04-04T04:00:00+12:45',
    ]);
  });
});

describe('Asia/Kolkata (+05:30, no DST)', () => {
  const tz = 'Asia/Kolkata';
  it('a daily time stays at the same wall time on the dates other zones shift', () => {
    expect(upcoming('30 2 * * *', tz, '2027-03-13T12:00:00+05:30', 3)).toEqual([
      '2027-03-14T02:30:00+05:30',
      '2027-03-15T02:30:00+05:30',
      '2027-03-16T02:30:00+05:30',
    ]);
  });
  it('hourly runs are exactly one hour apart for two days', () => {
    const s = compileSchedule('0 * * * *', { timezone: tz, name: 'x' });
    const runs = s.next(Date.parse('2027-10-30T00:00:00Z'), 48);
    expect(runs).toHaveLength(48);
    for (let i = 1; i < runs.length; i++) expect(runs[i]! - runs[i - 1]!).toBe(3_600_000);
    expect(formatInstant(runs[0]!, tz)).toBe('2027-10-30T06:00:00+05:30');
  });
});

describe('calendar edges', () => {
  it('Feb 29 runs only in leap years and skips 2100', () => {
    expect(upcoming('0 0 29 2 *', 'UTC', '2027-01-01T00:00:00Z', 2)).toEqual([
      '2028-02-29T00:00:00+00:00',
      '2032-02-29T00:00:00+00:00',
    ]);
    expect(upcoming('0 0 29 2 *', 'UTC', '2096-03-01T00:00:00Z', 1)).toEqual(['2104-02-29T00:00:00+00:00']);
  });
  it('Feb 29 in a zone ahead of UTC is computed on the local date', () => {
    expect(upcoming('0 6 29 2 *', 'Pacific/Chatham', '2027-06-01T00:00:00Z', 1)).toEqual(['2028-02-29T06:00:00+13:45']);
  });
  it('L is the last day of each month, 29 in a leap February', () => {
    expect(upcoming('0 0 L * *', 'UTC', '2028-01-15T00:00:00Z', 4)).toEqual([
      '2028-01-31T00:00:00+00:00',
      '2028-02-29T00:00:00+00:00',
      '2028-03-31T00:00:00+00:00',
      '2028-04-30T00:00:00+00:00',
    ]);
    expect(upcoming('0 0 L 2 *', 'UTC', '2027-01-01T00:00:00Z', 1)).toEqual(['2027-02-28T00:00:00+00:00']);
  });
  it('LW is the last weekday: Friday the 29th when the 31st is a Sunday', () => {
    expect(upcoming('0 0 LW * *', 'UTC', '2027-01-01T00:00:00Z', 3)).toEqual([
      '2027-01-29T00:00:00+00:00',
      '2027-02-26T00:00:00+00:00',
      '2027-03-31T00:00:00+00:00',
    ]);
  });
  it('nW moves to the nearest weekday without leaving the month', () => {
    // 2028-01-01 is a Saturday: 1W is Monday the 3rd, not Friday Dec 31st.
    expect(upcoming('0 0 1W * *', 'UTC', '2027-12-15T00:00:00Z', 1)).toEqual(['2028-01-03T00:00:00+00:00']);
    // 2027-10-31 is a Sunday: 31W is Friday the 29th, and 30-day months have no 31W at all.
    expect(upcoming('0 0 31W * *', 'UTC', '2027-09-01T00:00:00Z', 2)).toEqual([
      '2027-10-29T00:00:00+00:00',
      '2027-12-31T00:00:00+00:00',
    ]);
    // 2027-05-15 is a Saturday: 15W is Friday the 14th.
    expect(upcoming('0 0 15W * *', 'UTC', '2027-05-01T00:00:00Z', 1)).toEqual(['2027-05-14T00:00:00+00:00']);
  });
  it('# picks the nth weekday, and a fifth one only in months that have it', () => {
    expect(upcoming('0 9 * * 1#1', 'UTC', '2027-01-01T00:00:00Z', 2)).toEqual([
      '2027-01-04T09:00:00+00:00',
      '2027-02-01T09:00:00+00:00',
    ]);
    expect(upcoming('0 0 * * FRI#5', 'UTC', '2027-01-01T00:00:00Z', 3)).toEqual([
      '2027-01-29T00:00:00+00:00',
      '2027-04-30T00:00:00+00:00',
      '2027-07-30T00:00:00+00:00',
    ]);
  });
  it('5L is the last Friday of the month', () => {
    expect(upcoming('0 0 * * 5L', 'UTC', '2027-03-01T00:00:00Z', 2)).toEqual([
      '2027-03-26T00:00:00+00:00',
      '2027-04-30T00:00:00+00:00',
    ]);
  });
  it('year boundary: Dec 31 23:59 is followed by the next year, and @yearly looks back over it', () => {
    expect(upcoming('59 23 31 12 *', 'UTC', '2027-12-31T23:59:00Z', 1)).toEqual(['2028-12-31T23:59:00+00:00']);
    expect(upcoming('0 0 * * 0', 'UTC', '2027-12-30T00:00:00Z', 1)).toEqual(['2028-01-02T00:00:00+00:00']);
    expect(upcoming('@yearly', 'Pacific/Chatham', '2027-12-31T00:00:00Z', 1)).toEqual(['2028-01-01T00:00:00+13:45']);
    expect(before('@yearly', 'America/New_York', '2028-01-01T05:00:00Z')).toBe('2027-01-01T00:00:00-05:00');
  });
});
