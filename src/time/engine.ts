import { Cron } from 'croner';

/**
 * Shared croner instances. Schedules with the same rendered pattern, zone and day rule share
 * one, so ten thousand schedules cost as many instances as they have distinct patterns, and
 * at most ENGINE_LIMIT of those are alive at once.
 */
export const ENGINE_LIMIT = 2048;

const engines = new Map<string, Cron>();

export function engineKey(pattern: string, timezone: string, dayAnd: boolean): string {
  return `${timezone}\u0000${dayAnd ? 'and' : 'or'}\u0000${pattern}`;
}

/**
 * croner keeps a 10,000-slot year table per pattern (about 80 KB). Our patterns never restrict
 * the year, and croner reads that table only when the year is restricted (`starYear` false),
 * so it is dropped: measured 83 KB -> 3 KB per instance.
 */
function dropYearTable(cron: Cron): void {
  const pattern = (cron as unknown as { _states?: { pattern?: { starYear?: boolean; year?: unknown } } })._states?.pattern;
  if (pattern?.starYear === true && Array.isArray(pattern.year)) pattern.year = [];
}

/** Zones that are UTC all year: croner's fixed-offset path needs no Intl call per step. */
const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'Etc/UCT', 'UCT', 'Etc/GMT', 'GMT', 'Etc/GMT0', 'Etc/GMT+0', 'Etc/GMT-0', 'GMT0', 'GMT+0', 'GMT-0', 'Etc/Universal', 'Universal', 'Etc/Zulu', 'Zulu', 'Etc/Greenwich', 'Greenwich']);

export function buildEngine(pattern: string, timezone: string, dayAnd: boolean): Cron {
  const cron = new Cron(pattern, {
    // Measured: a named zone costs an Intl.DateTimeFormat.formatToParts call per step, which
    // dominated a 1,000-fire burst in UTC; utcOffset 0 computes the same instants without it.
    ...(UTC_ZONES.has(timezone) ? { utcOffset: 0 } : { timezone }),
    mode: '6-part',
    domAndDow: dayAnd,
    // Lists and ranges of hours are fixed times too (Vixie); only "*" or a step makes a
    // schedule follow real time. The expression layer marks wild hours with a step.
    fixedTimeRule: 'no-wildcard',
  });
  dropYearTable(cron);
  return cron;
}

/**
 * The instance for a key, built on a miss. Eviction is first-in first-out: a hit costs one
 * Map lookup, and rebuilding an evicted instance costs about 45 µs, far below what reordering
 * on every hit would add to the hot path.
 */
export function engineFor(key: string, pattern: string, timezone: string, dayAnd: boolean): Cron {
  let cron = engines.get(key);
  if (cron === undefined) {
    cron = buildEngine(pattern, timezone, dayAnd);
    engines.set(key, cron);
    if (engines.size > ENGINE_LIMIT) {
      const oldest = engines.keys().next().value;
      if (oldest !== undefined) engines.delete(oldest);
    }
  }
  return cron;
}

/** How many instances are alive: for tests and metrics. */
export function engineCount(): number {
  return engines.size;
}
