import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { compileSchedule, formatInstant, parseInstant, systemTimezone, usesHash, validateTimezone } from '../time/index.js';

/** How many instants `next` prints when -n is not given: enough to see a pattern's rhythm. */
export const DEFAULT_COUNT = 5;
const MAX_COUNT = 10_000;

interface NextOpts {
  tz?: string;
  from?: string;
  count: string;
  name?: string;
  json?: boolean;
}

const HELP = `
Prints the next instants of a cron expression, as ISO 8601 with the zone's offset, one per line.
DST rules: a fixed time in a spring-forward gap runs once just after the gap; a repeated fall-back
time runs once, at its first occurrence; an hour field of * (or */N) follows real time instead.

Expressions: 5 fields (minute hour day-of-month month day-of-week) or 6 (leading seconds);
names (JAN, MON), ranges, lists, steps, L, W, #, H (hash of --name), macros (@daily, @hourly, ...)
and @every <duration> (multiples of the duration since 1970-01-01T00:00Z).

Examples:
  $ cronfleet next '30 2 * * *' --tz America/New_York --from 2027-03-13T12:00-05:00 -n 2
  2027-03-14T03:00:00-04:00
  2027-03-15T02:30:00-04:00

  $ cronfleet next '0 9 * * MON-FRI' --tz Europe/Berlin --json
  $ cronfleet next 'H H * * *' --name nightly-backup
  $ cronfleet next '@every 90m' --from 2027-01-01T00:00Z -n 3

--from without an offset (2027-03-14T01:30) is read as wall time in --tz. Exit status 2 when
the expression, zone or an option is invalid; the message names the field and what was expected.`;

export function register(program: Command): void {
  program
    .command('next')
    .description('Show when a cron expression is next due (DST-aware, same engine as the scheduler).')
    .argument('<expr>', "cron expression, macro or @every; quote it: '*/5 * * * *'")
    .option('--tz <zone>', 'IANA time zone (default: the system zone)')
    .option('--from <instant>', 'ISO 8601 instant to start after (default: now)')
    .option('-n, --count <N>', `how many instants to print (1-${MAX_COUNT})`, String(DEFAULT_COUNT))
    .option('--name <name>', "the schedule's name: seeds H so the instants match the scheduler's")
    .option('--json', 'print a JSON array of { "instant": UTC ISO, "local": ISO with offset }')
    .addHelpText('after', HELP)
    .action((expr: string, opts: NextOpts) => {
      const timezone = validateTimezone(opts.tz ?? systemTimezone());
      if (!/^\d+$/.test(opts.count) || Number(opts.count) < 1 || Number(opts.count) > MAX_COUNT) {
        throw new UsageError(`-n: "${opts.count}" is not a valid count: expected a whole number 1-${MAX_COUNT}`);
      }
      if (opts.name === undefined && usesHash(expr)) {
        throw new UsageError(`"${expr}" uses H, which is seeded by the schedule's name: pass --name NAME to see that schedule's instants`);
      }
      let from: number;
      if (opts.from === undefined) {
        from = Date.now(); // the one read of the wall clock, at the edge
      } else {
        const parsed = parseInstant(opts.from, timezone);
        if (parsed === null) {
          throw new UsageError(`--from: "${opts.from}" is not an ISO 8601 instant: expected e.g. 2027-03-14T03:00:00-04:00, 2027-03-14T07:00Z or 2027-03-14T03:00 (read in --tz)`);
        }
        from = parsed;
      }
      const schedule = compileSchedule(expr, { timezone, name: opts.name ?? '' });
      const instants = schedule.next(from, Number(opts.count));
      if (opts.json) {
        const rows = instants.map((ms) => ({ instant: new Date(ms).toISOString(), local: formatInstant(ms, timezone) }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(instants.map((ms) => `${formatInstant(ms, timezone)}\n`).join(''));
    });
}
