import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseFacility, parseLevel } from '../../src/syslog/names.js';

describe('syslog names', () => {
  it('maps the C macro spellings rcron.conf uses', () => {
    expect(parseFacility('LOG_CRON')).toBe(9);
    expect(parseFacility('LOG_USER')).toBe(1);
    expect(parseFacility('LOG_LOCAL0')).toBe(16);
    expect(parseFacility('LOG_LOCAL7')).toBe(23);
    expect(parseLevel('LOG_INFO')).toBe(6);
    expect(parseLevel('LOG_WARNING')).toBe(4);
    expect(parseLevel('LOG_EMERG')).toBe(0);
    expect(parseLevel('LOG_DEBUG')).toBe(7);
  });

  it('accepts bare lower-case words and common aliases', () => {
    expect(parseFacility('cron')).toBe(9);
    expect(parseFacility('user')).toBe(1);
    expect(parseFacility('local3')).toBe(19);
    expect(parseLevel('info')).toBe(6);
    expect(parseLevel('warn')).toBe(4);
    expect(parseLevel('error')).toBe(3);
  });

  it('accepts the numbers themselves', () => {
    expect(parseFacility(9)).toBe(9);
    expect(parseLevel(0)).toBe(0);
  });

  it('rejects unknown names with the offending text and the expected list', () => {
    expect(() => parseFacility('LOG_CRONN', 'syslog_facility')).toThrow(ConfigError);
    expect(() => parseFacility('LOG_CRONN', 'syslog_facility')).toThrow(/syslog_facility: "LOG_CRONN" is not a syslog facility: expected one of .*LOG_CRON.*LOG_LOCAL7/);
    expect(() => parseLevel('loud')).toThrow(/"loud" is not a syslog level: expected one of LOG_EMERG/);
  });

  it('rejects numbers outside the tables', () => {
    expect(() => parseFacility(12)).toThrow(/12 is not a syslog facility number/);
    expect(() => parseLevel(8)).toThrow(/8 is not a syslog level number/);
    expect(() => parseLevel(1.5)).toThrow(ConfigError);
  });
});
