import type { Command } from 'commander';
import { DEFAULT_RCRON_CONF } from '../compat/rcron/conf.js';
import { runRcronWithConf } from '../compat/rcron/main.js';

/** `cronfleet rcron`: the same code as the standalone `rcron` bin, for hosts that only install cronfleet. */
export function register(program: Command): void {
  program
    .command('rcron')
    .summary('run a command only where the cluster state file says active (rcron drop-in)')
    .description(
      'Runs COMMAND only on the node whose state file says "active"; elsewhere exits 0 at once.\n' +
        'Same behaviour, conf file and syslog lines as the standalone `rcron` bin (see `rcron --help`\n' +
        'for the conf keys). Put `--` before the command so its own options are not read as ours.',
    )
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--conf <file>', 'cluster conf file (key = value lines)', DEFAULT_RCRON_CONF)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  cronfleet rcron -- /usr/local/bin/backup --full\n' +
        '  cronfleet rcron --conf /etc/rcron/rcronB.conf -- sh -c "make report"\n\n' +
        'Exit status: the command\'s own (128+n if killed by signal n), 0 when passive,\n' +
        '127/126 when it cannot be started, 2 for a missing or invalid conf file.',
    )
    .action(async (command: string[], opts: { conf: string }) => {
      process.exitCode = await runRcronWithConf(opts.conf, command);
    });
}
