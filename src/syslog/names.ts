import { ConfigError } from '../errors.js';

/** Facility numbers from <syslog.h>; the PRI byte is facility × 8 + level. */
export const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** Severity numbers from <syslog.h>. */
export const LEVELS: Readonly<Record<string, number>> = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

/** Spellings other tools accept for the same severities (logger(1), rsyslog). */
const LEVEL_ALIASES: Readonly<Record<string, string>> = { error: 'err', warn: 'warning', panic: 'emerg' };

function lookup(
  table: Readonly<Record<string, number>>,
  aliases: Readonly<Record<string, string>>,
  kind: string,
  value: string | number,
  field: string,
  max: number,
): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= max && Object.values(table).includes(value)) return value;
    throw new ConfigError(field, `${value} is not a syslog ${kind} number: expected one of ${Object.values(table).join(', ')}`);
  }
  // rcron.conf spells them as the C macros (LOG_CRON); logger(1) and humans as bare words (cron).
  const bare = value.trim().toLowerCase().replace(/^log_/, '');
  const name = aliases[bare] ?? bare;
  const n = table[name];
  if (n === undefined) {
    const names = Object.keys(table).map((k) => `LOG_${k.toUpperCase()}`);
    throw new ConfigError(field, `"${value}" is not a syslog ${kind}: expected one of ${names.join(', ')} (or the same in lower case without LOG_)`);
  }
  return n;
}

/** `LOG_CRON`, `cron`, `local3` or a number → the facility number. ConfigError names `field` otherwise. */
export function parseFacility(value: string | number, field = 'facility'): number {
  return lookup(FACILITIES, {}, 'facility', value, field, 23);
}

/** `LOG_INFO`, `info`, `warning` or a number → the severity number. ConfigError names `field` otherwise. */
export function parseLevel(value: string | number, field = 'level'): number {
  return lookup(LEVELS, LEVEL_ALIASES, 'level', value, field, 7);
}
