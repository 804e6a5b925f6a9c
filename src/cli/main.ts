import { Command, CommanderError } from 'commander';
import { ConfigError, CronSyntaxError, CronfleetError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { commandGroups, groupsFor, type CommandGroup } from './commands.js';

/** Exit statuses: 0 ok, 1 failure, 2 usage or config error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The program with the commands of `groups` (default: every command). */
export async function buildProgram(groups: readonly CommandGroup[] = commandGroups): Promise<Command> {
  const program = new Command('cronfleet')
    .description('Distributed cron: each job fired exactly once across a cluster, with history.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const group of await Promise.all(groups.map((g) => g.load()))) group.register(program);
  return program;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof CronSyntaxError) {
    return EXIT_USAGE;
  }
  return EXIT_FAILURE;
}

/** Runs the CLI; resolves to the process exit status. Command actions may set `process.exitCode`. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(groupsFor(argv));
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) return exitCodeFor(err);
    const message =
      err instanceof CronfleetError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`cronfleet: ${message}\n`);
    return exitCodeFor(err);
  }
}
