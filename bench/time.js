// Next-instant computations per second: the time engine against croner used directly, in the
// same process and run, on the same ten expressions. Prints one JSON line. Build first (npx tsc).
import { Cron } from 'croner';
import { compileSchedule } from '../dist/time/index.js';

const CASES = [
  ['* * * * *', 'UTC'],
  ['*/5 * * * *', 'UTC'],
  ['0 9 * * 1-5', 'UTC'],
  ['30 2 * * *', 'UTC'],
  ['0 0 1 * *', 'UTC'],
  ['*/15 * * * *', 'America/New_York'],
  ['0 9 * * 1-5', 'Europe/Berlin'],
  ['30 2 * * *', 'America/New_York'],
  ['0 0 L * *', 'Australia/Lord_Howe'],
  ['0 12 * * 5#2', 'Asia/Kolkata'],
];
const START = Date.UTC(2027, 0, 1);
const STEPS = 200; // consecutive instants per expression per round
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);

function ours() {
  const schedules = CASES.map(([expr, timezone]) => compileSchedule(expr, { timezone, name: 'bench' }));
  return () => {
    let n = 0;
    for (const s of schedules) {
      let t = START;
      for (let i = 0; i < STEPS; i++) {
        t = s.nextAfter(t);
        n++;
      }
    }
    return n;
  };
}

function croner() {
  // The options a careful direct user would pick for the same semantics.
  const jobs = CASES.map(([expr, timezone]) => new Cron(expr, { timezone, fixedTimeRule: 'no-wildcard' }));
  return () => {
    let n = 0;
    for (const c of jobs) {
      let d = new Date(START);
      for (let i = 0; i < STEPS; i++) {
        d = c.nextRun(d);
        n++;
      }
    }
    return n;
  };
}

function measure(run) {
  const t0 = performance.now();
  const n = run();
  return { n, ms: performance.now() - t0 };
}

const runners = { ours: ours(), croner: croner() };
measure(runners.ours); // warm up both before timing
measure(runners.croner);
const totals = { ours: { n: 0, ms: 0 }, croner: { n: 0, ms: 0 } };
for (let r = 0; r < ROUNDS; r++) {
  // Alternate order so neither side always runs on a warmer or cooler machine.
  for (const key of r % 2 === 0 ? ['ours', 'croner'] : ['croner', 'ours']) {
    const m = measure(runners[key]);
    totals[key].n += m.n;
    totals[key].ms += m.ms;
  }
}
const rate = (x) => Math.round((x.n / x.ms) * 1000);
const oursPerSec = rate(totals.ours);
const cronerPerSec = rate(totals.croner);
console.log(
  JSON.stringify({
    bench: 'time',
    expressions: CASES.length,
    computations: totals.ours.n,
    ours_per_sec: oursPerSec,
    croner_per_sec: cronerPerSec,
    ratio: Number((oursPerSec / cronerPerSec).toFixed(3)),
    node: process.version,
  }),
);
