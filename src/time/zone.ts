import { CronSyntaxError } from '../errors.js';

/**
 * IANA time zones through Intl (Node ships full ICU): validation, offsets, and the ISO 8601
 * rendering operators see. One formatter per zone is kept because constructing one costs
 * far more than using it.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/**
 * Returns the zone's canonical spelling (`america/new_york` -> `America/New_York`) or throws.
 * ICU renames some zones (`Asia/Kolkata` resolves to `Asia/Calcutta`); the operator's spelling
 * is kept then, since both name the same rules.
 */
const validZones = new Map<string, string>();

export function validateTimezone(tz: string): string {
  // Constructing a formatter to test a zone costs tens of microseconds; zones are few.
  const known = validZones.get(tz);
  if (known !== undefined) return known;
  const expected =
    'is not a known IANA time zone: expected a name such as America/New_York, Europe/Berlin, Asia/Kolkata or UTC';
  if (typeof tz !== 'string' || tz.trim() === '' || tz !== tz.trim() || /^[+-]\d/.test(tz)) {
    throw new CronSyntaxError('timezone', String(tz), expected);
  }
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    throw new CronSyntaxError('timezone', tz, expected);
  }
  const canonical = resolved.toLowerCase() === tz.toLowerCase() ? resolved : tz;
  if (validZones.size < 1024) validZones.set(tz, canonical);
  return canonical;
}

/** The zone the host runs in (honours TZ), as cron does; UTC when the host reports none. */
export function systemTimezone(): string {
  const tz = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  return tz && tz.length > 0 ? tz : 'UTC';
}

export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock reading of `ms` in `timezone`, to the second. */
export function wallTimeAt(ms: number, timezone: string): WallTime {
  const wall: WallTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  let bc = false;
  for (const part of formatterFor(timezone).formatToParts(ms)) {
    switch (part.type) {
      case 'year':
      case 'month':
      case 'day':
      case 'hour':
      case 'minute':
      case 'second':
        wall[part.type] = Number(part.value);
        break;
      case 'era':
        bc = part.value.startsWith('B');
        break;
      default:
        break;
    }
  }
  if (bc) wall.year = 1 - wall.year;
  return wall;
}

/** Date.UTC without its mapping of years 0-99 onto 1900-1999. */
function utcOf(w: WallTime, ms = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, ms);
  return d.getTime();
}

/** Offset of `timezone` from UTC at instant `ms`, in milliseconds (east positive). */
export function offsetAt(ms: number, timezone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  return utcOf(wallTimeAt(whole, timezone)) - whole;
}

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, '0');
}

function formatYear(year: number): string {
  if (year >= 0 && year <= 9999) return pad(year, 4);
  return `${year < 0 ? '-' : '+'}${pad(year, 6)}`;
}

/** `2027-03-14T03:00:00-04:00`; milliseconds appear only when non-zero. */
export function formatInstant(ms: number, timezone: string): string {
  if (!Number.isFinite(ms)) throw new RangeError(`formatInstant: ${ms} is not a finite epoch-milliseconds value`);
  const millis = ((ms % 1000) + 1000) % 1000;
  const whole = ms - millis;
  const w = wallTimeAt(whole, timezone);
  const offsetSec = Math.round((utcOf(w) - whole) / 1000);
  const abs = Math.abs(offsetSec);
  const sign = offsetSec < 0 ? '-' : '+';
  const offH = Math.floor(abs / 3600);
  const offM = Math.floor((abs % 3600) / 60);
  const offS = abs % 60;
  // Local mean time before ~1900 has offsets with seconds; ISO has no field for them, so
  // they are shown as a third component rather than silently rounded away.
  const offset = `${sign}${pad(offH)}:${pad(offM)}${offS ? `:${pad(offS)}` : ''}`;
  const frac = millis ? `.${pad(millis, 3)}` : '';
  return `${formatYear(w.year)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${frac}${offset}`;
}

/**
 * The instant a wall-clock reading denotes in `timezone`. A repeated reading (fall back) gives
 * its first occurrence; a reading inside a gap (spring forward) is moved forward by the gap's
 * length, as Temporal's "compatible" disambiguation does.
 */
export function instantOfWallTime(w: WallTime, ms: number, timezone: string): number {
  const asUtc = utcOf(w, ms);
  const day = 86_400_000;
  const before = offsetAt(asUtc - day, timezone);
  const after = offsetAt(asUtc + day, timezone);
  const candidates = [asUtc - before, asUtc - after].filter(
    (t, i) => offsetAt(t, timezone) === (i === 0 ? before : after),
  );
  if (candidates.length > 0) return Math.min(...candidates);
  return asUtc - before;
}
