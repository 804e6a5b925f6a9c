import { CronSyntaxError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;

/**
 * Parses `500ms`, `30s`, `5m`, `1h30m`, `2d` (units ms s m h d w, largest first, each once).
 * A bare number is seconds. `field` names the place in errors.
 */
export function parseDuration(text: string, field = 'duration'): number {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  PART.lastIndex = 0;
  let total = 0;
  let matched = 0;
  let lastUnit = Infinity;
  for (let m = PART.exec(s); m; m = PART.exec(s)) {
    const unitMs = UNIT_MS[m[2]!]!;
    if (unitMs >= lastUnit) break;
    lastUnit = unitMs;
    total += Number(m[1]) * unitMs;
    matched = PART.lastIndex;
  }
  if (s === '' || matched !== s.length) {
    throw new CronSyntaxError(field, text, 'is not a duration: expected a number with units such as 30s, 5m, 1h30m, 2d (units ms, s, m, h, d, w)');
  }
  return Math.round(total);
}

/** 90000 -> "1m30s": the inverse of parseDuration, for messages and listings. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
