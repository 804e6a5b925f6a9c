import { describe, expect, it } from 'vitest';
import { formatRfc3164, rfc3164Timestamp } from '../../src/syslog/format.js';

describe('RFC 3164 formatting', () => {
  it('pads a one-digit day with a space, as local daemons expect', () => {
    expect(rfc3164Timestamp(new Date(2024, 0, 5, 3, 4, 5))).toBe('Jan  5 03:04:05');
  });

  it('writes a two-digit day as is', () => {
    expect(rfc3164Timestamp(new Date(2023, 11, 31, 23, 59, 59))).toBe('Dec 31 23:59:59');
  });

  it('puts facility × 8 + level in the PRI and the pid after the tag', () => {
    const buf = formatRfc3164(9, 6, new Date(2024, 6, 14, 12, 0, 1), 'rcron', 4242, 'hello');
    expect(buf.toString()).toBe('<78>Jul 14 12:00:01 rcron[4242]: hello');
  });

  it('gives PRI 0 for kern.emerg and 191 for local7.debug', () => {
    const at = new Date(2024, 1, 29, 0, 0, 0);
    expect(formatRfc3164(0, 0, at, 't', 1, 'x').toString()).toBe('<0>Feb 29 00:00:00 t[1]: x');
    expect(formatRfc3164(23, 7, at, 't', 1, 'x').toString()).toBe('<191>Feb 29 00:00:00 t[1]: x');
  });

  it('turns line breaks into spaces so one message stays one record', () => {
    const buf = formatRfc3164(1, 6, new Date(2024, 0, 1), 't', 1, 'a\nb\r\nc');
    expect(buf.toString()).toBe('<14>Jan  1 00:00:00 t[1]: a b c');
  });

  it('encodes non-ASCII text as UTF-8', () => {
    const buf = formatRfc3164(1, 6, new Date(2024, 0, 1), 't', 1, 'é');
    expect([...buf.subarray(buf.length - 2)]).toEqual([0xc3, 0xa9]);
  });
});
