import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import { DEFAULT_SYSLOG_SOCKET } from '../../syslog/socket.js';
import { parseFacility, parseLevel } from '../../syslog/names.js';

export const DEFAULT_RCRON_CONF = '/etc/rcron/rcron.conf';

export type RcronState = 'active' | 'passive';

export interface RcronConf {
  /** The file it came from, for messages. */
  file: string;
  clusterName: string;
  stateFile: string;
  /** Used when the state file cannot be read or holds neither word. */
  defaultState: RcronState;
  syslogFacility: number;
  syslogLevel: number;
  /** Added to rcron's own niceness for the job, as nice(1) -n does. */
  niceLevel: number;
  syslogSocket: string;
  /** Parent of the per-cluster journals of started-but-unfinished jobs. */
  journalDir: string;
}

/** Defaults of the original rcron, so a conf that names only cluster_name and state_file works unchanged. */
const DEFAULTS: Record<string, string> = {
  cluster_name: 'default',
  state_file: '/var/run/rcron/state',
  default_state: 'active',
  syslog_facility: 'LOG_CRON',
  syslog_level: 'LOG_INFO',
  nice_level: '19',
  syslog_socket: DEFAULT_SYSLOG_SOCKET,
  journal_dir: '/var/lib/cronfleet/rcron/',
};

export const RCRON_KEYS: readonly string[] = Object.keys(DEFAULTS);

/**
 * Parses rcron.conf: `key = value` lines, `#` starting a comment line, blank lines ignored.
 * A `#` after a value is part of the value (paths may hold one), as in the original.
 * Every problem is a ConfigError naming the file, the line and what was expected.
 */
export function parseRcronConf(text: string, file: string): RcronConf {
  const values = new Map<string, { value: string; line: number }>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const where = `line ${i + 1}`;
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw new ConfigError(where, `"${line}" is not a setting: expected "key = value" or a "#" comment`, file);
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!(key in DEFAULTS)) {
      throw new ConfigError(where, `unknown key "${key}": expected one of ${RCRON_KEYS.join(', ')}`, file);
    }
    const earlier = values.get(key);
    if (earlier) {
      throw new ConfigError(where, `key "${key}" is set again (first set on line ${earlier.line}): expected each key once`, file);
    }
    if (value === '') throw new ConfigError(where, `key "${key}" has no value: expected "${key} = <value>"`, file);
    values.set(key, { value, line: i + 1 });
  });

  const get = (key: string): { value: string; where: string } => {
    const v = values.get(key);
    return v ? { value: v.value, where: `line ${v.line}: ${key}` } : { value: DEFAULTS[key]!, where: key };
  };

  const defaultState = get('default_state');
  if (defaultState.value !== 'active' && defaultState.value !== 'passive') {
    throw new ConfigError(defaultState.where, `"${defaultState.value}" is not a state: expected active or passive`, file);
  }
  const nice = get('nice_level');
  if (!/^[+-]?\d+$/.test(nice.value) || Number(nice.value) < -40 || Number(nice.value) > 40) {
    throw new ConfigError(nice.where, `"${nice.value}" is not a niceness increment: expected an integer such as 19 or -5 (see nice(1))`, file);
  }
  const facility = get('syslog_facility');
  const level = get('syslog_level');
  return {
    file,
    clusterName: get('cluster_name').value,
    stateFile: get('state_file').value,
    defaultState: defaultState.value,
    syslogFacility: withLocation(() => parseFacility(facility.value, facility.where), file),
    syslogLevel: withLocation(() => parseLevel(level.value, level.where), file),
    niceLevel: Number(nice.value),
    syslogSocket: get('syslog_socket').value,
    journalDir: get('journal_dir').value,
  };
}

function withLocation(fn: () => number, file: string): number {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError && err.file === undefined) {
      throw new ConfigError(err.path, err.message.slice(err.path.length + 2), file);
    }
    throw err;
  }
}

/** Reads and parses a conf file; an unreadable file is a ConfigError too (exit status 2). */
export function loadRcronConf(file: string): RcronConf {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError('', `cannot read the rcron conf file (${code}): expected a readable file of "key = value" lines (--conf FILE, default ${DEFAULT_RCRON_CONF})`, file);
  }
  return parseRcronConf(text, file);
}
