import { createReadStream, existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../errors.js';
import { FINAL_STATUSES, RUN_STATUSES, type RunStatus } from '../store/types.js';
import { addConfigOption, iso, out, parsePositiveInt, printJson, runToJson, table, type ConfigOpts } from './context.js';
import { addRemoteOptions, withSource, type CliStore, type RemoteOpts } from './remote.js';

function parseStatuses(text: string): RunStatus[] {
  return text.split(',').map((s) => {
    const status = s.trim() as RunStatus;
    if (!RUN_STATUSES.includes(status)) throw new UsageError(`--status: "${s}" is not a run status; expected one of ${RUN_STATUSES.join(', ')} (comma-separated)`);
    return status;
  });
}

function parseInstant(text: string, name: string): number {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`${name}: "${text}" is not an ISO 8601 instant such as 2027-03-14T03:00:00Z`);
  return ms;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Streams a file from `offset`, returning the new offset. */
function copyFrom(path: string, offset: number): Promise<number> {
  const size = statSync(path).size;
  if (size <= offset) return Promise.resolve(offset);
  return new Promise((resolve, reject) => {
    createReadStream(path, { start: offset, end: size - 1 })
      .on('data', (chunk) => process.stdout.write(chunk))
      .on('end', () => resolve(size))
      .on('error', reject);
  });
}

async function printLogs(store: CliStore, id: number, follow: boolean): Promise<void> {
  let run = await store.getRun(id);
  if (!run) throw new NotFoundError('run', String(id));
  const logPath = run.logPath;
  if (store.kind !== 'remote' && logPath && existsSync(logPath)) {
    // The full log is on this machine: stream it (and keep streaming while the run goes on).
    let offset = await copyFrom(logPath, 0);
    while (follow && run && !FINAL_STATUSES.includes(run.status)) {
      await sleep(250);
      offset = await copyFrom(logPath, offset);
      run = await store.getRun(id);
    }
    if (follow) await copyFrom(logPath, offset);
    return;
  }
  // Elsewhere: the store keeps the last 256 KiB of each stream.
  let shown = { stdout: 0, stderr: 0 };
  for (;;) {
    const output = (await store.getRunOutput(id)) ?? { stdout: '', stderr: '' };
    if (output.stdout.length >= shown.stdout) process.stdout.write(output.stdout.slice(shown.stdout));
    if (output.stderr.length >= shown.stderr) process.stderr.write(output.stderr.slice(shown.stderr));
    shown = { stdout: output.stdout.length, stderr: output.stderr.length };
    if (!follow || !run || FINAL_STATUSES.includes(run.status)) break;
    await sleep(500);
    run = await store.getRun(id);
  }
}

export function register(program: Command): void {
  addRemoteOptions(addConfigOption(
    program
      .command('runs')
      .description('List runs, newest first.')
      .option('-s, --schedule <name>', 'only this schedule\'s runs')
      .option('--status <list>', `only these statuses, comma-separated (${RUN_STATUSES.join(', ')})`)
      .option('--node <name>', 'only runs on this node')
      .option('--since <instant>', 'scheduled at or after this ISO instant')
      .option('--until <instant>', 'scheduled before this ISO instant')
      .option('--before <id>', 'page: runs older than this id')
      .option('-n, --limit <n>', 'at most this many', '20')
      .option('--json', 'print JSON for scripts'),
  ))
    .addHelpText('after', `
Examples:
  cronfleet runs --schedule nightly-backup --limit 5
  cronfleet runs --status failed,timed_out,lost --json`)
    .action(async (opts: ConfigOpts & RemoteOpts & { schedule?: string; status?: string; node?: string; since?: string; until?: string; before?: string; limit: string; json?: boolean }) => {
      const filter = {
        limit: parsePositiveInt(opts.limit, '--limit'),
        ...(opts.schedule !== undefined && { schedule: opts.schedule }),
        ...(opts.node !== undefined && { node: opts.node }),
        ...(opts.status !== undefined && { status: parseStatuses(opts.status) }),
        ...(opts.since !== undefined && { from: parseInstant(opts.since, '--since') }),
        ...(opts.until !== undefined && { to: parseInstant(opts.until, '--until') }),
        ...(opts.before !== undefined && { before: parsePositiveInt(opts.before, '--before') }),
      };
      await withSource(opts, async (store) => {
        const runs = await store.listRuns(filter);
        if (opts.json) return printJson(runs.map(runToJson));
        out(
          table(
            ['ID', 'SCHEDULE', 'SCHEDULED', 'TRY', 'STATUS', 'NODE', 'EXIT', 'DURATION', 'REASON'],
            runs.map((r) => [
              r.id,
              r.schedule,
              iso(r.scheduledAt),
              r.attempt,
              r.status,
              r.node,
              r.signal ?? r.exitCode,
              r.startedAt !== null && r.finishedAt !== null ? `${r.finishedAt - r.startedAt}ms` : null,
              r.reason,
            ]),
          ),
        );
      });
    });

  addRemoteOptions(addConfigOption(
    program
      .command('logs <run>')
      .description('Print a run\'s output: the full log when it ran on this machine, else the last 256 KiB of each stream from the store.')
      .option('-f, --follow', 'keep printing while the run goes on'),
  )).action(async (id: string, opts: ConfigOpts & RemoteOpts & { follow?: boolean }) => {
    await withSource(opts, (store) => printLogs(store, parsePositiveInt(id, 'run'), opts.follow === true));
  });

  addRemoteOptions(addConfigOption(
    program
      .command('cancel <run>')
      .description('Cancel a run: a queued one at once, a running one is stopped by its node (TERM, then KILL).')
      .option('--json', 'print the run as JSON'),
  )).action(async (id: string, opts: ConfigOpts & RemoteOpts & { json?: boolean }) => {
    await withSource(opts, async (store) => {
      const run = await store.cancelRun(parsePositiveInt(id, 'run'), 'cancelled from the command line', await store.clockNow());
      if (opts.json) return printJson(runToJson(run));
      out(`run ${run.id}: ${run.status === 'cancelled' ? 'cancelled' : run.cancelRequested ? 'stop requested' : run.status}`);
    });
  });
}
