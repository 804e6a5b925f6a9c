import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';

/** Runs the built bin (`npx tsc -p tsconfig.json` first): the command as an operator runs it. */
describe('cronfleet next', () => {
  it('prints a spring-forward gap time once, after the gap, with the zone offset', () => {
    const r = cli(['next', '30 2 * * *', '--tz', 'America/New_York', '--from', '2027-03-13T12:00:00-05:00', '-n', '3']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('2027-03-14T03:00:00-04:00\n2027-03-15T02:30:00-04:00\n2027-03-16T02:30:00-04:00\n');
  });

  it('prints five instants by default', () => {
    const r = cli(['next', '@hourly', '--tz', 'UTC', '--from', '2027-01-01T00:00Z']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '2027-01-01T01:00:00+00:00',
      '2027-01-01T02:00:00+00:00',
      '2027-01-01T03:00:00+00:00',
      '2027-01-01T04:00:00+00:00',
      '2027-01-01T05:00:00+00:00',
    ]);
  });

  it('--json prints instant (UTC) and local (zone offset) pairs', () => {
    const r = cli(['next', '0 9 * * MON-FRI', '--tz', 'Asia/Kolkata', '--from', '2027-01-01T00:00Z', '-n', '2', '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { instant: '2027-01-01T03:30:00.000Z', local: '2027-01-01T09:00:00+05:30' },
      { instant: '2027-01-04T03:30:00.000Z', local: '2027-01-04T09:00:00+05:30' },
    ]);
  });

  it('--from without an offset is wall time in --tz', () => {
    const r = cli(['next', '*/30 * * * *', '--tz', 'Europe/Berlin', '--from', '2027-10-31T01:45', '-n', '4']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '2027-10-31T02:00:00+02:00',
      '2027-10-31T02:30:00+02:00',
      '2027-10-31T02:00:00+01:00',
      '2027-10-31T02:30:00+01:00',
    ]);
  });

  it('--name seeds H: same name, same instants; different names spread', () => {
    const a1 = cli(['next', 'H H * * *', '--tz', 'UTC', '--name', 'backup-a', '--from', '2027-01-01T00:00Z', '-n', '2']);
    const a2 = cli(['next', 'H H * * *', '--tz', 'UTC', '--name', 'backup-a', '--from', '2027-01-01T00:00Z', '-n', '2']);
    const b = cli(['next', 'H H * * *', '--tz', 'UTC', '--name', 'backup-b', '--from', '2027-01-01T00:00Z', '-n', '2']);
    expect(a1.status).toBe(0);
    expect(a1.stdout).toBe(a2.stdout);
    expect(a1.stdout).not.toBe(b.stdout);
    const [first, second] = a1.stdout.trim().split('\n');
    expect(Date.parse(second!) - Date.parse(first!)).toBe(86_400_000);
  });

  it('defaults --from to now and --tz to the system zone (TZ)', () => {
    const before = Date.now();
    const r = cli(['next', '* * * * *', '-n', '1'], { env: { TZ: 'Asia/Kolkata' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\+05:30\n$/);
    const t = Date.parse(r.stdout.trim());
    expect(t).toBeGreaterThan(before - 60_000);
    expect(t).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it.each([
    [['next', '61 * * * *', '--tz', 'UTC'], 'minute field: "61" is out of range 0-59'],
    [['next', '0 0 30 2 *', '--tz', 'UTC'], 'expression: "0 0 30 2 *" can never fire'],
    [['next', '* * * * *', '--tz', 'Mars/Base'], 'timezone: "Mars/Base" is not a known IANA time zone'],
    [['next', '* * * * *', '--tz', 'UTC', '-n', 'many'], '-n: "many" is not a valid count'],
    [['next', '* * * * *', '--tz', 'UTC', '--from', 'yesterday'], '--from: "yesterday" is not an ISO 8601 instant'],
    [['next', '* * * * *', '--tz', 'UTC', '--from', '2027-02-30T00:00Z'], '--from: "2027-02-30T00:00Z" is not an ISO 8601 instant'],
    [['next', 'H * * * *', '--tz', 'UTC'], 'pass --name NAME'],
    [['next'], "missing required argument 'expr'"],
  ])('exits 2 with a message on stderr: %j', (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
  });

  it('--help teaches with examples', () => {
    const r = cli(['next', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain("cronfleet next '30 2 * * *' --tz America/New_York");
  });
});
