import { CronSyntaxError } from '../errors.js';
import { parseDuration } from './duration.js';
import { FIELDS, parseField } from './fields.js';
import type { ParsedField } from './fields.js';

/**
 * Turns what an operator writes into one of two shapes: a fixed period (`@every`) or an
 * explicit croner pattern with the flags that decide its day and DST semantics.
 */
export type ParsedExpression =
  | { readonly kind: 'every'; readonly periodMs: number }
  | {
      readonly kind: 'cron';
      /** Six fields, every value spelled out, so equal schedules share one croner instance. */
      readonly pattern: string;
      /** Vixie: a day field starting with `*` makes day-of-month AND day-of-week both apply. */
      readonly dayAnd: boolean;
      /** The hour field starts with `*` (or `H/`): the schedule follows real time across DST. */
      readonly realTime: boolean;
    };

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Shortest `@every` period: anything finer is a busy loop, not a schedule. */
export const MIN_EVERY_MS = 1000;

const FIELD_LIST = 'minute hour day-of-month month day-of-week';

/** True when some field has an `H` element, i.e. the schedule's name changes its instants. */
export function usesHash(expr: string): boolean {
  // Month and day names never start with H, so an element starting with H is always a hash.
  return /(?:^|[\s,])H(?![A-Z])/i.test(expr);
}

function parseEvery(rest: string): ParsedExpression {
  if (rest === '') throw new CronSyntaxError('@every', rest, 'needs a duration: expected e.g. @every 30s, @every 5m, @every 1h30m');
  const periodMs = parseDuration(rest, '@every');
  if (periodMs < MIN_EVERY_MS) {
    throw new CronSyntaxError('@every', rest, `is shorter than the minimum of 1s: expected a duration of at least 1s`);
  }
  return { kind: 'every', periodMs };
}

function renderList(f: ParsedField): string {
  return [...f.values.map(String), ...f.modifiers].join(',');
}

export function parseExpression(expr: string, name: string): ParsedExpression {
  if (typeof expr !== 'string') throw new CronSyntaxError('expression', String(expr), 'is not text: expected a cron expression');
  const trimmed = expr.trim();
  if (trimmed.startsWith('@')) {
    const [macro = '', ...rest] = trimmed.split(/\s+/);
    const lower = macro.toLowerCase();
    if (lower === '@every') return parseEvery(rest.join(''));
    const body = MACROS[lower];
    if (body === undefined || rest.length > 0) {
      throw new CronSyntaxError(
        'expression',
        trimmed,
        `is not a known macro: expected one of ${Object.keys(MACROS).join(', ')} or @every <duration>`,
      );
    }
    return parseExpression(body, name);
  }
  const parts = trimmed === '' ? [] : trimmed.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new CronSyntaxError(
      'expression',
      expr,
      `has ${parts.length} field${parts.length === 1 ? '' : 's'}: expected 5 (${FIELD_LIST}), 6 (second ${FIELD_LIST}) or a macro such as @daily or @every 5m`,
    );
  }
  const texts = parts.length === 5 ? [undefined, ...parts] : parts;
  const [secT, minT, hourT, domT, monT, dowT] = texts;
  const second = secT === undefined ? undefined : parseField(FIELDS.second, secT, name);
  const minute = parseField(FIELDS.minute, minT!, name);
  const hour = parseField(FIELDS.hour, hourT!, name);
  const dom = parseField(FIELDS.dayOfMonth, domT!, name);
  const month = parseField(FIELDS.month, monT!, name);
  const dow = parseField(FIELDS.dayOfWeek, dowT!, name);

  const realTime = hour.startsWithStar || /^H\//i.test(hourT!);
  // croner counts a schedule as fixed-time (fixedTimeRule "no-wildcard") when its second,
  // minute and hour fields contain neither "*" nor "/". Values are always spelled out here, so
  // a wild hour is marked with one degenerate stepped range ("5-5/1") to keep it real-time.
  let hourText = hour.values.map(String).join(',');
  if (realTime) {
    const [first, ...others] = hour.values;
    hourText = [`${first}-${first}/1`, ...others.map(String)].join(',');
  }
  const pattern = [
    second === undefined ? '0' : renderList(second),
    renderList(minute),
    hourText,
    dom.full && dom.startsWithStar ? '*' : renderList(dom),
    renderList(month),
    dow.full && dow.startsWithStar ? '*' : renderList(dow),
  ].join(' ');
  return { kind: 'cron', pattern, dayAnd: dom.startsWithStar || dow.startsWithStar, realTime };
}
