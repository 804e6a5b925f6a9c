import { describe, expect, it } from 'vitest';
import { compileSchedule, formatInstant } from '../../src/time/index.js';
import { rng } from '../helpers/rng.js';

/**
 * The misfire logic walks backwards with previousBefore and forwards with nextAfter; the two
 * must describe the same set of instants, above all around DST transitions.
 */
const ZONES = ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kolkata'];
const EXPRS = ['30 2 * * *', '0 1,2,3 * * *', '*/20 2 * * *', '30 * * * *', '15,45 * * * *', '0 */2 * * *', '45 1 * * *', '0 3 * * *', '*/30 1-3 * * *', '0 0,30 * * * *'];
/** Days on which each zone changes its offset in 2027 (local dates). */
const TRANSITIONS = [Date.UTC(2027, 2, 14), Date.UTC(2027, 10, 7), Date.UTC(2027, 2, 28), Date.UTC(2027, 9, 31), Date.UTC(2027, 9, 3), Date.UTC(2027, 3, 4), Date.UTC(2027, 8, 26)];


describe('nextAfter and previousBefore describe the same instants', () => {
  it.each(ZONES)('%s: around every 2027 transition', (tz) => {
    const rand = rng(7);
    for (const expr of EXPRS) {
      const s = compileSchedule(expr, { timezone: tz, name: 'consistency' });
      for (const day of TRANSITIONS) {
        for (let k = 0; k < 12; k++) {
          const t = day - 86_400_000 + Math.floor(rand() * 3 * 86_400_000);
          const n = s.nextAfter(t)!;
          const p = s.previousBefore(n)!;
          const where = `${expr} in ${tz} from ${formatInstant(t, tz)}: next ${formatInstant(n, tz)}, previous of that ${formatInstant(p, tz)}`;
          expect(n, where).toBeGreaterThan(t);
          expect(p, where).toBeLessThanOrEqual(t);
          expect(s.nextAfter(p), where).toBe(n);
        }
      }
    }
  }, 120_000);
});
