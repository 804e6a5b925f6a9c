import type { Command } from 'commander';
import { DEFAULT_CLIENT_CONF, loadClientConf } from '../compat/distributed-cron/conf.js';
import { DEFAULT_UNIQUE_FORMAT, NO_UNIQUE, UNIQUE_TOKENS, checkUniqueFormat, uniqueFor } from '../compat/distributed-cron/unique.js';
import { UsageError } from '../errors.js';
import { GearmanClient } from '../gearman/client.js';
import { serverKey } from '../gearman/connection.js';
import { parseDuration } from '../time/duration.js';

interface SubmitOpts {
  tasks: string[];
  conf: string;
  uniqueFormat: string;
  at?: string;
  timeout: string;
  json?: boolean;
}

interface SubmitRow {
  task: string;
  unique: string | null;
  ok: boolean;
  handle: string | null;
  server: string | null;
  error: string | null;
}

function parseAt(text: string | undefined): Date {
  if (text === undefined) return new Date();
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--at "${text}" is not a time: expected ISO 8601 such as 2026-11-23T10:05:00Z`);
  return d;
}

/** `cronfleet submit`: distributed-cron's cron_client.pl, with a unique id per task and minute. */
export function register(program: Command): void {
  program
    .command('submit')
    .summary('queue tasks as background gearman jobs (distributed-cron client drop-in)')
    .description(
      'Submits each task as a background job whose function is the task name, to the job servers of a distributed-cron client conf.json. Each job carries a unique id (by default task@minute in UTC, e.g. backup@2026-11-23T10:05Z) so the same crontab line on several hosts runs a task once per minute. The job server is chosen as Perl\'s Gearman::Client does, so jobs from both coalesce; when that server is down the next one is used.',
    )
    .requiredOption('--tasks <names...>', 'task names (gearman function names) to submit')
    .option('--conf <file>', 'client conf.json: {"job_servers":[{"server":"host","port":4730}]}', DEFAULT_CLIENT_CONF)
    .option(
      '--unique-format <format>',
      `unique id template with {${UNIQUE_TOKENS.join('}, {')}}, at most 64 bytes; "${NO_UNIQUE}" for none`,
      DEFAULT_UNIQUE_FORMAT,
    )
    .option('--at <time>', 'the instant the ids are built from instead of now (ISO 8601)')
    .option('--timeout <duration>', 'per server: connect and wait for the job to be accepted', '5s')
    .option('--json', 'print one JSON array of {task, unique, ok, handle, server, error}')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  # crontab line on two hosts for redundancy: each task still runs once a minute\n' +
        '  * * * * *  cronfleet submit --tasks rotate_logs purge_cache\n' +
        '  cronfleet submit --conf ./client.json --tasks backup --unique-format "{task}@{hour}"\n' +
        '  cronfleet submit --tasks report --unique-format none --json\n\n' +
        'Exit status: 0 when every task was accepted, 1 when any was not, 2 for a bad conf or option.',
    )
    .action(async (opts: SubmitOpts) => {
      checkUniqueFormat(opts.uniqueFormat);
      const timeoutMs = parseDuration(opts.timeout, '--timeout');
      const at = parseAt(opts.at);
      const conf = loadClientConf(opts.conf);
      const jobs = opts.tasks.map((task) => ({ task, unique: uniqueFor(task, at, opts.uniqueFormat) }));
      const client = new GearmanClient({ servers: conf.servers, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
      const rows: SubmitRow[] = [];
      try {
        for (const { task, unique } of jobs) {
          try {
            const s = await client.submitBackground(task, '', unique === undefined ? {} : { unique });
            rows.push({ task, unique: unique ?? null, ok: true, handle: s.handle, server: serverKey(s.server), error: null });
          } catch (err) {
            rows.push({ task, unique: unique ?? null, ok: false, handle: null, server: null, error: (err as Error).message });
          }
        }
      } finally {
        client.close();
      }
      if (opts.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else {
        for (const r of rows) {
          if (r.ok) process.stdout.write(`${r.task}\t${r.unique ?? '-'}\t${r.handle}\t${r.server}\n`);
          else process.stderr.write(`cronfleet submit: ${r.task}: ${r.error}\n`);
        }
      }
      process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
    });
}
