import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { parseRcronConf } from '../../../src/compat/rcron/conf.js';

const FILE = '/etc/rcron/test.conf';

function errorOf(text: string): ConfigError {
  try {
    parseRcronConf(text, FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('rcron.conf parsing', () => {
  it('reads the original README example', () => {
    const conf = parseRcronConf(
      [
        '# An arbitrary name',
        'cluster_name        = myredundant_jobs',
        'state_file          = /var/run/rcron/state',
        'default_state       = passive',
        'syslog_facility     = LOG_CRON',
        'syslog_level        = LOG_INFO',
        '  # indented comment',
        '',
        'nice_level          = 19',
      ].join('\n'),
      FILE,
    );
    expect(conf).toEqual({
      file: FILE,
      clusterName: 'myredundant_jobs',
      stateFile: '/var/run/rcron/state',
      defaultState: 'passive',
      syslogFacility: 9,
      syslogLevel: 6,
      niceLevel: 19,
      syslogSocket: '/dev/log',
      journalDir: '/var/lib/cronfleet/rcron/',
    });
  });

  it('fills the keys a multi-cluster conf leaves out with the defaults', () => {
    const conf = parseRcronConf('cluster_name = other_jobs\nstate_file = /var/run/rcron/stateB\n', FILE);
    expect(conf.defaultState).toBe('active');
    expect(conf.niceLevel).toBe(19);
    expect(conf.syslogFacility).toBe(9);
    expect(conf.stateFile).toBe('/var/run/rcron/stateB');
  });

  it('reads the extra keys and CRLF line ends', () => {
    const conf = parseRcronConf('syslog_socket = /tmp/x/log\r\njournal_dir = /tmp/j\r\nsyslog_facility = LOG_LOCAL5\r\nnice_level = -3\r\n', FILE);
    expect(conf.syslogSocket).toBe('/tmp/x/log');
    expect(conf.journalDir).toBe('/tmp/j');
    expect(conf.syslogFacility).toBe(21);
    expect(conf.niceLevel).toBe(-3);
  });

  it('reports an unknown key with file, line and the known keys', () => {
    const err = errorOf('cluster_name = a\n\nnice = 19\n');
    expect(err.code).toBe('CF_ERR_CONFIG');
    expect(err.message).toBe(
      `${FILE}: line 3: unknown key "nice": expected one of cluster_name, state_file, default_state, syslog_facility, syslog_level, nice_level, syslog_socket, journal_dir`,
    );
  });

  it('reports a line without "=" with its text', () => {
    expect(errorOf('cluster_name a').message).toBe(`${FILE}: line 1: "cluster_name a" is not a setting: expected "key = value" or a "#" comment`);
  });

  it('reports a key set twice', () => {
    expect(errorOf('nice_level = 1\nnice_level = 2').message).toMatch(/line 2: key "nice_level" is set again \(first set on line 1\)/);
  });

  it('reports an empty value', () => {
    expect(errorOf('state_file =').message).toMatch(/line 1: key "state_file" has no value/);
  });

  it('reports a bad default_state, nice_level, facility and level with their line', () => {
    expect(errorOf('\ndefault_state = master').message).toBe(`${FILE}: line 2: default_state: "master" is not a state: expected active or passive`);
    expect(errorOf('nice_level = low').message).toMatch(/^\/etc\/rcron\/test\.conf: line 1: nice_level: "low" is not a niceness increment: expected an integer/);
    expect(errorOf('syslog_facility = LOG_KRON').message).toMatch(/^\/etc\/rcron\/test\.conf: line 1: syslog_facility: "LOG_KRON" is not a syslog facility: expected one of .*LOG_CRON/);
    expect(errorOf('\n\nsyslog_level = LOUD').message).toMatch(/^\/etc\/rcron\/test\.conf: line 3: syslog_level: "LOUD" is not a syslog level/);
  });
});
