import { instantOfWallTime } from './zone.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Reads an ISO 8601 instant: `2027-03-14T03:00:00-04:00`, `...Z`, or a bare wall time
 * (`2027-03-14T01:30`, `2027-03-14`) read in `timezone`. Returns null when the text is not
 * one of these forms or names a date that does not exist (2027-02-30).
 */
export function parseInstant(text: string, timezone: string): number | null {
  const m = ISO.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const wall = { year: Number(y), month: Number(mo), day: Number(d), hour: Number(h), minute: Number(mi), second: Number(s) };
  const ms = Number(frac.padEnd(3, '0'));
  const check = new Date(Date.UTC(2000, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second));
  // Round-tripping through a leap year catches 2027-02-30 and 25:00 while allowing Feb 29.
  const leapOk = wall.month === 2 && wall.day === 29 ? (wall.year % 4 === 0 && wall.year % 100 !== 0) || wall.year % 400 === 0 : true;
  if (
    !leapOk ||
    check.getUTCMonth() !== wall.month - 1 ||
    check.getUTCDate() !== wall.day ||
    check.getUTCHours() !== wall.hour ||
    check.getUTCMinutes() !== wall.minute ||
    check.getUTCSeconds() !== wall.second
  ) {
    return null;
  }
  if (zone === undefined) return instantOfWallTime(wall, ms, timezone);
  let offsetMin = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return null;
    offsetMin = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  return instantOfWallTime(wall, ms, 'UTC') - offsetMin * 60_000;
}
