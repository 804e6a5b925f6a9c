import { CronSyntaxError } from '../errors.js';
import { hashPick } from './hash.js';

/**
 * One cron field, parsed by hand so that every error names its field and the offending text.
 * The result is a set of values plus the day modifiers croner understands (L, LW, 15W, 5#2,
 * 5L); the expression layer renders it back as an explicit croner pattern.
 */
export interface FieldSpec {
  readonly key: 'second' | 'minute' | 'hour' | 'dayOfMonth' | 'month' | 'dayOfWeek';
  /** How errors name it: `minute field`. */
  readonly label: string;
  readonly min: number;
  readonly max: number;
  /** Spoken form of the accepted values, for messages. */
  readonly accepts: string;
  readonly names?: Readonly<Record<string, number>>;
  /** Range `H` picks from when not given one; day-of-month stops at 28 so every month has it. */
  readonly hashMin: number;
  readonly hashMax: number;
}

const MONTHS = { JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12 };
const DAYS = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };

export const FIELDS: Readonly<Record<FieldSpec['key'], FieldSpec>> = {
  second: { key: 'second', label: 'second field', min: 0, max: 59, accepts: '0-59', hashMin: 0, hashMax: 59 },
  minute: { key: 'minute', label: 'minute field', min: 0, max: 59, accepts: '0-59', hashMin: 0, hashMax: 59 },
  hour: { key: 'hour', label: 'hour field', min: 0, max: 23, accepts: '0-23', hashMin: 0, hashMax: 23 },
  dayOfMonth: { key: 'dayOfMonth', label: 'day-of-month field', min: 1, max: 31, accepts: '1-31', hashMin: 1, hashMax: 28 },
  month: { key: 'month', label: 'month field', min: 1, max: 12, accepts: '1-12 or JAN-DEC', names: MONTHS, hashMin: 1, hashMax: 12 },
  dayOfWeek: {
    key: 'dayOfWeek',
    label: 'day-of-week field',
    min: 0,
    max: 7,
    accepts: '0-7 (0 and 7 are Sunday) or SUN-SAT',
    names: DAYS,
    hashMin: 0,
    hashMax: 6,
  },
};

export interface ParsedField {
  /** Sorted, distinct; day-of-week has 7 folded onto 0. */
  readonly values: number[];
  /** Croner tokens for the day modifiers: `L`, `LW`, `15W`, `5#2`, `5L`. */
  readonly modifiers: string[];
  /** The text starts with `*` or `?`: Vixie's test for the day-field AND rule and for wild hours. */
  readonly startsWithStar: boolean;
  /** Every value of the field, with no modifiers: rendered as `*`. */
  readonly full: boolean;
}

const GENERIC_FORMS = 'a number, a range (1-5), a list (1,5), a step (*/15, 10-40/10), * or H';

function fail(spec: FieldSpec, text: string, expected: string): never {
  throw new CronSyntaxError(spec.label, text, expected);
}

function parseValue(spec: FieldSpec, token: string, element: string): number {
  const where = token === element ? '' : ` (in "${element}")`;
  if (/^\d+$/.test(token)) {
    const n = Number(token);
    if (n < spec.min || n > spec.max) fail(spec, token, `is out of range ${spec.accepts}${where}`);
    return n;
  }
  const named = spec.names?.[token.toUpperCase()];
  if (named !== undefined) return named;
  return fail(spec, token, `is not a valid value${where}: expected ${spec.accepts}`);
}

function parseStep(spec: FieldSpec, token: string, element: string): number {
  const span = spec.key === 'dayOfWeek' ? 7 : spec.max - spec.min + 1;
  if (!/^\d+$/.test(token) || Number(token) < 1 || Number(token) > span) {
    fail(spec, token, `is not a valid step (in "${element}"): expected a whole number 1-${span}`);
  }
  return Number(token);
}

function addRange(out: Set<number>, from: number, to: number, step: number): void {
  for (let v = from; v <= to; v += step) out.add(v);
}

/** `H`, `H(a-b)`, each with an optional `/step`: Jenkins' hash spread. */
function parseHash(spec: FieldSpec, element: string, hashKey: string, out: Set<number>): boolean {
  const m = /^[Hh](?:\((\w+)-(\w+)\))?(?:\/(\w+))?$/.exec(element);
  if (!m) {
    if (/^[Hh]/.test(element)) {
      fail(spec, element, 'is not a valid hash form: expected H, H/15, H(0-29) or H(0-29)/10');
    }
    return false;
  }
  const lo = m[1] !== undefined ? parseValue(spec, m[1], element) : spec.hashMin;
  const hi = m[2] !== undefined ? parseValue(spec, m[2], element) : spec.hashMax;
  if (lo > hi) fail(spec, element, `is a backwards range: expected start <= end (ranges do not wrap)`);
  if (m[3] === undefined) {
    out.add(lo + hashPick(hashKey, hi - lo + 1));
  } else {
    const step = parseStep(spec, m[3], element);
    addRange(out, lo + hashPick(hashKey, Math.min(step, hi - lo + 1)), hi, step);
  }
  return true;
}

function parseDayOfMonthModifier(spec: FieldSpec, element: string, modifiers: string[]): boolean {
  const upper = element.toUpperCase();
  if (upper === 'L' || upper === 'LW') {
    modifiers.push(upper);
    return true;
  }
  const w = /^(\d+)W$/i.exec(element);
  if (w) {
    modifiers.push(`${parseValue(spec, w[1]!, element)}W`);
    return true;
  }
  if (/[LW]/i.test(element)) {
    fail(spec, element, 'is not a valid day-of-month form: expected L (last day), LW (last weekday) or 15W (weekday nearest the 15th)');
  }
  return false;
}

function parseDayOfWeekModifier(spec: FieldSpec, element: string, modifiers: string[]): boolean {
  const nth = /^(\w+)#(\w+)$/.exec(element);
  if (nth) {
    const day = parseValue(spec, nth[1]!, element) % 7;
    const which = nth[2]!.toUpperCase();
    if (which !== 'L' && !/^[1-5]$/.test(which)) {
      fail(spec, nth[2]!, `is not a valid occurrence (in "${element}"): expected 1-5 or L, as in 5#2 (second Friday)`);
    }
    modifiers.push(`${day}#${which}`);
    return true;
  }
  const last = /^(\w+)L$/i.exec(element);
  if (last && !spec.names?.[element.toUpperCase()]) {
    modifiers.push(`${parseValue(spec, last[1]!, element) % 7}L`);
    return true;
  }
  if (/^L$/i.test(element)) {
    fail(spec, element, 'needs a day: expected 5L (last Friday of the month) or 1#2 (second Monday)');
  }
  return false;
}

/** One element of a list: everything between commas. */
function parseElement(spec: FieldSpec, element: string, hashKey: string, out: Set<number>, modifiers: string[]): void {
  if (parseHash(spec, element, hashKey, out)) return;
  if (spec.key === 'dayOfMonth' && parseDayOfMonthModifier(spec, element, modifiers)) return;
  if (spec.key === 'dayOfWeek' && parseDayOfWeekModifier(spec, element, modifiers)) return;

  const parts = element.split('/');
  if (parts.length > 2) fail(spec, element, `has more than one "/": expected a single step such as */15 or 10-40/10`);
  const [base = '', stepText] = parts;
  const step = stepText === undefined ? 1 : parseStep(spec, stepText, element);
  // Day-of-week runs to 7 as in cronie, so `4/1` is Thursday to Sunday; 7 folds onto 0 later.
  const top = spec.max;
  if (base === '*' || base === '?') {
    if (base === '?' && spec.key !== 'dayOfMonth' && spec.key !== 'dayOfWeek') {
      fail(spec, element, 'is only allowed in the day-of-month and day-of-week fields: expected * here');
    }
    addRange(out, spec.min, top, step);
    return;
  }
  const range = base.split('-');
  if (range.length > 2 || range.some((r) => r === '')) {
    fail(spec, element, `is not valid: expected ${spec.accepts} as ${GENERIC_FORMS}`);
  }
  const from = parseValue(spec, range[0]!, element);
  if (range.length === 2) {
    // `MON-SUN` means Monday to Sunday: a named Sunday closing a range is day 7, not 0.
    const to = spec.key === 'dayOfWeek' && range[1]!.toUpperCase() === 'SUN' ? 7 : parseValue(spec, range[1]!, element);
    if (from > to) fail(spec, element, 'is a backwards range: expected start <= end (ranges do not wrap)');
    addRange(out, from, to, step);
  } else if (stepText !== undefined) {
    addRange(out, from, top, step); // `5/15`: from 5 to the field's end, every 15 (cronie's reading)
  } else {
    out.add(from);
  }
}

export function parseField(spec: FieldSpec, text: string, hashKey: string): ParsedField {
  const set = new Set<number>();
  const modifiers: string[] = [];
  const elements = text.split(',');
  if (elements.includes('')) {
    fail(spec, text, `has an empty list element: expected ${GENERIC_FORMS}, separated by single commas`);
  }
  for (const element of elements) parseElement(spec, element, `${hashKey}\u0000${spec.key}`, set, modifiers);
  if (spec.key === 'dayOfWeek' && set.delete(7)) set.add(0);
  if (modifiers.includes('LW') && (modifiers.length > 1 || set.size > 0)) {
    fail(spec, text, 'combines LW with other days: expected LW on its own');
  }
  const values = [...set].sort((a, b) => a - b);
  const top = spec.key === 'dayOfWeek' ? 6 : spec.max;
  return {
    values,
    modifiers,
    startsWithStar: text.startsWith('*') || text.startsWith('?'),
    full: modifiers.length === 0 && values.length === top - spec.min + 1,
  };
}
