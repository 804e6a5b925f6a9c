import { describe, expect, it } from 'vitest';
import { CronSyntaxError } from '../../src/errors.js';
import { formatDuration, parseDuration } from '../../src/time/duration.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['90', 90_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['', 'soon', '5x', '1m1h', '1h1h', '-5m', '5 m'])('rejects %j naming the field', (text) => {
    expect(() => parseDuration(text, 'retry.backoff')).toThrow(CronSyntaxError);
    expect(() => parseDuration(text, 'retry.backoff')).toThrow(/^retry\.backoff: /);
  });
  it('formatDuration is its inverse for whole units', () => {
    for (const text of ['1m30s', '2d3h', '45s', '250ms']) expect(formatDuration(parseDuration(text))).toBe(text);
    expect(formatDuration(0)).toBe('0s');
  });
});
