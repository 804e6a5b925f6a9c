import { describe, expect, it } from 'vitest';
import { CronSyntaxError } from '../../src/errors.js';
import { formatInstant, jitterOffset, parseInstant, systemTimezone, validateTimezone } from '../../src/time/index.js';

describe('formatInstant', () => {
  it('writes the zone offset and omits zero milliseconds', () => {
    expect(formatInstant(Date.UTC(2027, 2, 14, 7), 'America/New_York')).toBe('2027-03-14T03:00:00-04:00');
    expect(formatInstant(Date.UTC(2027, 0, 1, 0, 0, 0, 250), 'UTC')).toBe('2027-01-01T00:00:00.250+00:00');
    expect(formatInstant(Date.UTC(2027, 0, 1), 'Pacific/Chatham')).toBe('2027-01-01T13:45:00+13:45');
    expect(formatInstant(Date.UTC(2027, 0, 1), 'Asia/Kolkata')).toBe('2027-01-01T05:30:00+05:30');
  });
  it('renders midnight as 00, not 24', () => {
    expect(formatInstant(Date.UTC(2027, 5, 1, 22), 'Europe/Berlin')).toBe('2027-06-02T00:00:00+02:00');
  });
});

describe('validateTimezone and systemTimezone', () => {
  it('accepts IANA names and fixes their case', () => {
    expect(validateTimezone('America/New_York')).toBe('America/New_York');
    expect(validateTimezone('america/new_york')).toBe('America/New_York');
    expect(validateTimezone('Asia/Kolkata')).toBe('Asia/Kolkata');
    expect(validateTimezone('UTC')).toBe('UTC');
  });
  it.each(['Mars/Base', '', ' UTC', '+05:00', 'America/New York'])('rejects %j with a timezone error', (tz) => {
    expect(() => validateTimezone(tz)).toThrow(CronSyntaxError);
    try {
      validateTimezone(tz);
    } catch (err) {
      expect((err as CronSyntaxError).field).toBe('timezone');
    }
  });
  it('systemTimezone returns a zone validateTimezone accepts', () => {
    expect(validateTimezone(systemTimezone())).toBeTruthy();
  });
});

describe('parseInstant', () => {
  it('reads offsets, Z, and bare wall times in the given zone', () => {
    expect(parseInstant('2027-03-14T03:00:00-04:00', 'UTC')).toBe(Date.UTC(2027, 2, 14, 7));
    expect(parseInstant('2027-03-14T07:00Z', 'Asia/Kolkata')).toBe(Date.UTC(2027, 2, 14, 7));
    expect(parseInstant('2027-03-14T03:00', 'America/New_York')).toBe(Date.UTC(2027, 2, 14, 7));
    expect(parseInstant('2027-01-01', 'Asia/Kolkata')).toBe(Date.UTC(2026, 11, 31, 18, 30));
    expect(parseInstant('2027-01-01T00:00:00.5Z', 'UTC')).toBe(Date.UTC(2027, 0, 1, 0, 0, 0, 500));
  });
  it('a repeated wall time is its first occurrence; a gap time moves forward by the gap', () => {
    expect(parseInstant('2027-11-07T01:30', 'America/New_York')).toBe(Date.UTC(2027, 10, 7, 5, 30));
    expect(parseInstant('2027-03-14T02:30', 'America/New_York')).toBe(Date.UTC(2027, 2, 14, 7, 30));
  });
  it.each(['2027-02-30T00:00Z', '2027-02-29', '2027-13-01', '2027-01-01T24:00Z', 'tomorrow', '2027-01-01T00:00+25:00'])(
    'returns null for %j',
    (text) => {
      expect(parseInstant(text, 'UTC')).toBeNull();
    },
  );
  it('accepts Feb 29 in a leap year', () => {
    expect(parseInstant('2028-02-29T12:00Z', 'UTC')).toBe(Date.UTC(2028, 1, 29, 12));
  });
});

describe('jitterOffset', () => {
  it('is stable for (name, instant) and stays in [0, jitter)', () => {
    expect(jitterOffset('backup', 1_800_000_000_000, 60_000)).toBe(jitterOffset('backup', 1_800_000_000_000, 60_000));
    for (let i = 0; i < 5000; i++) {
      const j = jitterOffset(`job-${i % 37}`, 1_800_000_000_000 + i * 60_000, 30_000);
      expect(j).toBeGreaterThanOrEqual(0);
      expect(j).toBeLessThan(30_000);
      expect(Number.isInteger(j)).toBe(true);
    }
  });
  it('is zero without a window and spreads over the window with one', () => {
    expect(jitterOffset('x', 0, 0)).toBe(0);
    expect(jitterOffset('x', 0, -5)).toBe(0);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) buckets[Math.floor(jitterOffset(`n${i}`, 1_800_000_000_000, 10_000) / 1000)]!++;
    // Each tenth of the window gets about 1000 of 10,000 draws; 800-1200 is far outside chance.
    for (const b of buckets) {
      expect(b).toBeGreaterThan(800);
      expect(b).toBeLessThan(1200);
    }
  });
  it('differs between names and between instants', () => {
    expect(jitterOffset('a', 1_800_000_000_000, 3_600_000)).not.toBe(jitterOffset('b', 1_800_000_000_000, 3_600_000));
    expect(jitterOffset('a', 1_800_000_000_000, 3_600_000)).not.toBe(jitterOffset('a', 1_800_000_060_000, 3_600_000));
  });
});
