import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { compileSchedule } from '../../src/time/index.js';
import { rng } from '../helpers/rng.js';

/**
 * Our engine against cron-parser, an independent implementation, on random valid expressions
 * in UTC (no DST rule applies there). Every disagreement must fall under a named explanation
 * that is itself checked; anything else fails the test with the expression to replay.
 */


const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

function int(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** One list element over [lo, hi]: a value, range, star step, range step or start step. */
function element(rand: () => number, lo: number, hi: number, names?: readonly string[]): string {
  const value = (v: number) => (names && rand() < 0.3 ? names[v - lo]! : String(v));
  const r = rand();
  if (r < 0.35) return value(int(rand, lo, hi));
  const a = int(rand, lo, hi);
  const b = int(rand, a, hi);
  const step = int(rand, 1, Math.max(1, Math.floor((hi - lo + 1) / 2)));
  if (r < 0.6) return `${value(a)}-${value(b)}`;
  if (r < 0.75) return `*/${step}`;
  if (r < 0.9) return `${a}-${b}/${step}`;
  return `${a}/${step}`;
}

function field(rand: () => number, lo: number, hi: number, starWeight: number, names?: readonly string[]): string {
  if (rand() < starWeight) return '*';
  const n = rand() < 0.7 ? 1 : int(rand, 2, 3);
  return Array.from({ length: n }, () => element(rand, lo, hi, names)).join(',');
}

function expression(rand: () => number): string {
  const withSeconds = rand() < 0.2;
  const parts = [
    field(rand, 0, 59, 0.3),
    field(rand, 0, 23, 0.4),
    field(rand, 1, 31, 0.6),
    field(rand, 1, 12, 0.6, MONTH_NAMES),
    field(rand, 0, 6, 0.6, DAY_NAMES),
  ];
  const special = rand();
  // L and # are drawn with the other day field left as * so the day rule cannot blur them.
  if (special < 0.05) {
    parts[2] = 'L';
    parts[4] = '*';
  } else if (special < 0.1) {
    parts[2] = '*';
    parts[4] = rand() < 0.5 ? `${int(rand, 0, 6)}#${int(rand, 1, 5)}` : `${int(rand, 0, 6)}L`;
  }
  return (withSeconds ? [field(rand, 0, 59, 0.5), ...parts] : parts).join(' ');
}

const YEAR_START = Date.UTC(2027, 0, 1);
const YEAR_MS = 365 * 86_400_000;

function theirs(expr: string, from: number, n: number, reverse = false): number[] {
  const it = CronExpressionParser.parse(expr, { currentDate: new Date(from), tz: 'UTC' });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    try {
      out.push((reverse ? it.prev() : it.next()).getTime());
    } catch {
      break; // cron-parser throws when it finds nothing within its search window
    }
  }
  return out;
}

/** cron-parser's reason for refusing an expression, or null when it parses it. */
function refusal(expr: string): string | null {
  try {
    CronExpressionParser.parse(expr, { tz: 'UTC' });
    return null;
  } catch (err) {
    return String(err);
  }
}

function weReject(expr: string): boolean {
  try {
    compileSchedule(expr, { timezone: 'UTC', name: 'differential' });
    return false;
  } catch {
    return true;
  }
}

function ourPrevious(expr: string, from: number, n: number): number[] {
  const s = compileSchedule(expr, { timezone: 'UTC', name: 'differential' });
  const out: number[] = [];
  let t: number | null = from;
  for (let i = 0; i < n && t !== null; i++) {
    t = s.previousBefore(t);
    if (t !== null) out.push(t);
  }
  return out;
}

/** Vixie: a day field that starts with "*" but is not exactly "*" (e.g. "*\/2") is still a
 * restriction, yet it switches the day rule to AND. cron-parser ORs unless a field is exactly
 * "*" or "?". */
function vixieStarRule(expr: string): boolean {
  const f = expr.split(' ');
  const [dom, dow] = f.length === 6 ? [f[3]!, f[5]!] : [f[2]!, f[4]!];
  const plain = (x: string) => x === '*' || x === '?';
  return (dom.startsWith('*') || dow.startsWith('*')) && !plain(dom) && !plain(dow);
}

/** Checks instants against cron-parser's own parsed field values under the AND rule, and that
 * no minute in between also matches: the oracle for expressions where the day rules differ. */
function checkAndRule(expr: string, from: number, ours: number[]): void {
  const fields = CronExpressionParser.parse(expr, { tz: 'UTC' }).fields;
  const has = (values: readonly (number | string)[], v: number) => values.includes(v);
  const matches = (t: number): boolean => {
    const d = new Date(t);
    return (
      has(fields.second.values, d.getUTCSeconds()) &&
      has(fields.minute.values, d.getUTCMinutes()) &&
      has(fields.hour.values, d.getUTCHours()) &&
      has(fields.dayOfMonth.values, d.getUTCDate()) &&
      has(fields.month.values, d.getUTCMonth() + 1) &&
      (has(fields.dayOfWeek.values, d.getUTCDay()) || (d.getUTCDay() === 0 && has(fields.dayOfWeek.values, 7)))
    );
  };
  const stepMs = expr.split(' ').length === 6 ? 1000 : 60_000;
  let cursor = Math.floor(from / stepMs) * stepMs + stepMs;
  for (const t of ours) {
    expect(matches(t), `${expr}: ${new Date(t).toISOString()} does not match under the AND rule`).toBe(true);
    // Day-level skipping keeps the scan short: a day whose date fails the day rule has no match.
    while (cursor < t) {
      const d = new Date(cursor);
      const dayOk =
        has(fields.dayOfMonth.values, d.getUTCDate()) &&
        has(fields.month.values, d.getUTCMonth() + 1) &&
        (has(fields.dayOfWeek.values, d.getUTCDay()) || (d.getUTCDay() === 0 && has(fields.dayOfWeek.values, 7)));
      if (!dayOk) {
        cursor = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
        continue;
      }
      expect(matches(cursor), `${expr}: ${d.toISOString()} matches but was skipped`).toBe(false);
      cursor += stepMs;
    }
    cursor = t + stepMs;
  }
}

describe('differential: random valid expressions against cron-parser over a year in UTC', () => {
  it('3,000 expressions, 8 instants forward and 3 back from a random point in 2027', () => {
    const seed = Number(process.env.CRONFLEET_DIFF_SEED ?? 42);
    const rand = rng(seed);
    const tally = { agreed: 0, vixieStarRule: 0, redrawnForCronParserDuplicates: 0, bothRefuse: 0, rangeEndingInSun: 0 };
    for (let i = 0; i < 3000; i++) {
      let expr = expression(rand);
      for (let why = refusal(expr); why !== null; why = refusal(expr)) {
        if (/duplicate values/.test(why)) {
          // cron-parser refuses a list whose elements overlap ("1-5,3"); Vixie and we take the
          // union. Nothing to compare, so the draw is replaced and counted.
          tally.redrawnForCronParserDuplicates++;
        } else if (/Invalid explicit day of month/.test(why)) {
          // A date that never exists (31 in a 30-day month only): both must refuse it.
          expect(weReject(expr), `seed ${seed} case ${i}: ${expr} should be refused`).toBe(true);
          tally.bothRefuse++;
        } else {
          expect.fail(`seed ${seed} case ${i}: cron-parser refused ${expr}: ${why}`);
        }
        expr = expression(rand);
      }
      const from = YEAR_START + Math.floor(rand() * YEAR_MS);
      const schedule = compileSchedule(expr, { timezone: 'UTC', name: 'differential' });
      const ours = schedule.next(from, 8);
      const ref = theirs(expr, from, 8);
      const oursBack = ourPrevious(expr, from, 3);
      const refBack = theirs(expr, from, 3, true);
      const context = `seed ${seed} case ${i}: ${expr} from ${new Date(from).toISOString()}`;
      if (JSON.stringify(ours) === JSON.stringify(ref) && JSON.stringify(oursBack) === JSON.stringify(refBack)) {
        tally.agreed++;
        continue;
      }
      const sunAsSeven = expr.replace(/-SUN\b/g, '-7');
      if (sunAsSeven !== expr) {
        // A range ending in the name SUN ends at day 7 here (MON-SUN is the whole week, as in
        // croner); cron-parser reads SUN as 0 there. With 7 written out, both must agree.
        tally.rangeEndingInSun++;
        if (vixieStarRule(expr)) checkAndRule(sunAsSeven, from, ours);
        else expect(ours, context).toEqual(theirs(sunAsSeven, from, 8));
        continue;
      }
      if (vixieStarRule(expr)) {
        tally.vixieStarRule++;
        checkAndRule(expr, from, ours);
        continue;
      }
      expect.fail(`${context}\n ours ${ours.map((t) => new Date(t).toISOString())}\n cron-parser ${ref.map((t) => new Date(t).toISOString())}\n ours back ${oursBack.map((t) => new Date(t).toISOString())}\n cron-parser back ${refBack.map((t) => new Date(t).toISOString())}`);
    }
    console.info(`differential tally (seed ${seed}): ${JSON.stringify(tally)}`);
    expect(tally.agreed).toBeGreaterThan(2500);
    expect(tally.vixieStarRule).toBeGreaterThan(0);
  }, 300_000);
});
