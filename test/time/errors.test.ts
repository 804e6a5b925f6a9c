import { describe, expect, it } from 'vitest';
import { CronSyntaxError } from '../../src/errors.js';
import { compileSchedule } from '../../src/time/index.js';
import { rng } from '../helpers/rng.js';

function errorOf(expr: string, timezone = 'UTC'): CronSyntaxError {
  try {
    compileSchedule(expr, { timezone, name: 'errors' });
  } catch (err) {
    if (err instanceof CronSyntaxError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(expr)} to be rejected`);
}

/** Each row: the input, the field it must name, and the exact message an operator sees. */
const TABLE: Array<[string, string, string]> = [
  ['61 * * * *', 'minute field', 'minute field: "61" is out of range 0-59'],
  ['* 24 * * *', 'hour field', 'hour field: "24" is out of range 0-23'],
  ['* * 0 * *', 'day-of-month field', 'day-of-month field: "0" is out of range 1-31'],
  ['* * * 13 *', 'month field', 'month field: "13" is out of range 1-12 or JAN-DEC'],
  ['* * * * 8', 'day-of-week field', 'day-of-week field: "8" is out of range 0-7 (0 and 7 are Sunday) or SUN-SAT'],
  ['60 * * * * *', 'second field', 'second field: "60" is out of range 0-59'],
  ['0 55-61 * * * *', 'minute field', 'minute field: "61" is out of range 0-59 (in "55-61")'],
  ['5-2 * * * *', 'minute field', 'minute field: "5-2" is a backwards range: expected start <= end (ranges do not wrap)'],
  ['*/0 * * * *', 'minute field', 'minute field: "0" is not a valid step (in "*/0"): expected a whole number 1-60'],
  ['* */25 * * *', 'hour field', 'hour field: "25" is not a valid step (in "*/25"): expected a whole number 1-24'],
  ['1/2/3 * * * *', 'minute field', 'minute field: "1/2/3" has more than one "/": expected a single step such as */15 or 10-40/10'],
  ['a * * * *', 'minute field', 'minute field: "a" is not a valid value: expected 0-59'],
  ['* * * FOO *', 'month field', 'month field: "FOO" is not a valid value: expected 1-12 or JAN-DEC'],
  ['* * * JAN-FOO *', 'month field', 'month field: "FOO" is not a valid value (in "JAN-FOO"): expected 1-12 or JAN-DEC'],
  ['* * * * FRI-MON', 'day-of-week field', 'day-of-week field: "FRI-MON" is a backwards range: expected start <= end (ranges do not wrap)'],
  [
    '1,,2 * * * *',
    'minute field',
    'minute field: "1,,2" has an empty list element: expected a number, a range (1-5), a list (1,5), a step (*/15, 10-40/10), * or H, separated by single commas',
  ],
  ['? * * * *', 'minute field', 'minute field: "?" is only allowed in the day-of-month and day-of-week fields: expected * here'],
  [
    '* * L-2 * *',
    'day-of-month field',
    'day-of-month field: "L-2" is not a valid day-of-month form: expected L (last day), LW (last weekday) or 15W (weekday nearest the 15th)',
  ],
  ['* * LW,5 * *', 'day-of-month field', 'day-of-month field: "LW,5" combines LW with other days: expected LW on its own'],
  ['* * * * L', 'day-of-week field', 'day-of-week field: "L" needs a day: expected 5L (last Friday of the month) or 1#2 (second Monday)'],
  [
    '* * * * 5#6',
    'day-of-week field',
    'day-of-week field: "6" is not a valid occurrence (in "5#6"): expected 1-5 or L, as in 5#2 (second Friday)',
  ],
  ['H(5-2) * * * *', 'minute field', 'minute field: "H(5-2)" is a backwards range: expected start <= end (ranges do not wrap)'],
  ['Hx * * * *', 'minute field', 'minute field: "Hx" is not a valid hash form: expected H, H/15, H(0-29) or H(0-29)/10'],
  ['H(0-70) * * * *', 'minute field', 'minute field: "70" is out of range 0-59 (in "H(0-70)")'],
  [
    '* * * *',
    'expression',
    'expression: "* * * *" has 4 fields: expected 5 (minute hour day-of-month month day-of-week), 6 (second minute hour day-of-month month day-of-week) or a macro such as @daily or @every 5m',
  ],
  [
    '* * * * * * *',
    'expression',
    'expression: "* * * * * * *" has 7 fields: expected 5 (minute hour day-of-month month day-of-week), 6 (second minute hour day-of-month month day-of-week) or a macro such as @daily or @every 5m',
  ],
  [
    '@foo',
    'expression',
    'expression: "@foo" is not a known macro: expected one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>',
  ],
  ['@every', '@every', '@every: "" needs a duration: expected e.g. @every 30s, @every 5m, @every 1h30m'],
  ['@every 500ms', '@every', '@every: "500ms" is shorter than the minimum of 1s: expected a duration of at least 1s'],
  [
    '@every soon',
    '@every',
    '@every: "soon" is not a duration: expected a number with units such as 30s, 5m, 1h30m, 2d (units ms, s, m, h, d, w)',
  ],
  [
    '0 0 30 2 *',
    'expression',
    'expression: "0 0 30 2 *" can never fire: no date matches its day-of-month, month and day-of-week fields together (e.g. February 30th); expected a date that exists',
  ],
  [
    '0 0 31 4,6,9,11 *',
    'expression',
    'expression: "0 0 31 4,6,9,11 *" can never fire: no date matches its day-of-month, month and day-of-week fields together (e.g. February 30th); expected a date that exists',
  ],
];

describe('invalid expressions name the field, the offending text and what was expected', () => {
  it.each(TABLE)('%s', (expr, field, message) => {
    const err = errorOf(expr);
    expect(err.code).toBe('CF_ERR_CRON_SYNTAX');
    expect(err.field).toBe(field);
    expect(err.message).toBe(message);
  });

  it('an unknown zone is a timezone error', () => {
    const err = errorOf('0 0 * * *', 'Mars/Olympus_Mons');
    expect(err.field).toBe('timezone');
    expect(err.message).toBe(
      'timezone: "Mars/Olympus_Mons" is not a known IANA time zone: expected a name such as America/New_York, Europe/Berlin, Asia/Kolkata or UTC',
    );
  });
});

/** mulberry32: a seeded generator, so a failing case can be replayed from the printed seed. */

const PIECES = ['*', '?', '/', ',', '-', '#', 'L', 'W', 'H', '(', ')', '@', ' ', ' ', ' ', '0', '1', '2', '5', '7', '9', '15', '29', '30', '31', '59', '60', '99', 'JAN', 'feb', 'SUN', 'fri', 'every', '1h', 'x', '\u00e9', '\t', '\u0000'];

const VALID = ['*/5 * * * *', '0 9 * * MON-FRI', '30 2 1,15 * *', '0 0 L * *', '0 12 * * 5#2', '0 0 15W * *', 'H H * * *', '0 */2 * * 1', '@every 90s', '@daily', '10-40/10 * * * * *'];

function mutate(rand: () => number, text: string): string {
  const chars = [...text];
  const edits = 1 + Math.floor(rand() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (chars.length + 1));
    const piece = PIECES[Math.floor(rand() * PIECES.length)]!;
    const op = rand();
    if (op < 0.33) chars.splice(at, 1);
    else if (op < 0.66) chars.splice(at, 0, piece);
    else chars.splice(at, 1, piece);
  }
  return chars.join('');
}

describe('fuzz: random text never throws anything but CronSyntaxError and never hangs', () => {
  it('10,000 strings: pure noise and mutations of valid expressions', () => {
    const seed = Number(process.env.CRONFLEET_FUZZ_SEED ?? 20270314);
    const rand = rng(seed);
    let accepted = 0;
    let rejected = 0;
    let slowest = 0;
    for (let i = 0; i < 10_000; i++) {
      let expr: string;
      if (i % 2 === 0) {
        const parts: string[] = [];
        const length = 1 + Math.floor(rand() * 24);
        for (let j = 0; j < length; j++) parts.push(PIECES[Math.floor(rand() * PIECES.length)]!);
        expr = parts.join('');
      } else {
        expr = mutate(rand, VALID[Math.floor(rand() * VALID.length)]!);
      }
      const started = performance.now();
      try {
        const s = compileSchedule(expr, { timezone: 'Europe/Berlin', name: `fuzz-${i}` });
        accepted++;
        const from = Date.UTC(2027, 0, 1);
        const next = s.nextAfter(from);
        expect(next, `seed ${seed} case ${i}: ${JSON.stringify(expr)}`).not.toBeNull();
        expect(next!).toBeGreaterThan(from);
        expect(s.previousBefore(next!)).toBeLessThan(next!);
      } catch (err) {
        if (!(err instanceof CronSyntaxError)) {
          throw new Error(`seed ${seed} case ${i}: ${JSON.stringify(expr)} threw ${String(err)}`);
        }
        rejected++;
        // Every message names its field and quotes the offending text.
        expect(err.message.startsWith(`${err.field}: "`)).toBe(true);
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
    // A generous bound on one compile + query: the feasibility search is capped, not open-ended.
    expect(slowest).toBeLessThan(2000);
    // Both paths must be exercised, or the fuzz only tests the first check.
    expect(accepted).toBeGreaterThan(200);
    expect(rejected).toBeGreaterThan(2000);
  }, 180_000);

  it('5,000 field-shaped expressions, including impossible dates', () => {
    const seed = Number(process.env.CRONFLEET_FUZZ_SEED ?? 8);
    const rand = rng(seed);
    const byField = [
      ['*', '0', '*/15', '5/20', '1-5', 'H', 'H/7', '59'],
      ['*', '0', '*/15', '5/20', '10-40/10', 'H', 'H(0-29)', '59'],
      ['*', '0', '*/6', '3', '9-17', 'H', 'H/4', '23'],
      ['*', '?', 'L', 'LW', '15W', '1', '29', '30', '31', '*/2', '1-31/7', 'H'],
      ['*', '2', 'FEB', '4,6,9,11', '1-12/3', 'DEC', 'H'],
      ['*', '?', '1-5', 'MON', 'SUN-SAT', '5#2', '5L', '0', '7', '*/2', 'H'],
    ];
    const stray = ['3-1', '2#3', 'L', '61', ''];
    let accepted = 0;
    let impossible = 0;
    for (let i = 0; i < 5000; i++) {
      const fields = byField.map((atoms) => {
        const n = 1 + Math.floor(rand() * 2);
        return Array.from({ length: n }, () =>
          rand() < 0.03 ? stray[Math.floor(rand() * stray.length)] : atoms[Math.floor(rand() * atoms.length)],
        ).join(',');
      });
      const expr = (rand() < 0.5 ? fields.slice(1) : fields).join(' ');
      try {
        const s = compileSchedule(expr, { timezone: 'America/New_York', name: 'shape' });
        accepted++;
        expect(s.nextAfter(Date.UTC(2030, 5, 1)), `seed ${seed}: ${expr}`).not.toBeNull();
      } catch (err) {
        if (!(err instanceof CronSyntaxError)) throw new Error(`seed ${seed}: ${JSON.stringify(expr)} threw ${String(err)}`);
        if (err.message.includes('can never fire')) impossible++;
      }
    }
    expect(accepted).toBeGreaterThan(1000);
    expect(impossible).toBeGreaterThan(10);
  }, 180_000);
});
