import { ConfigError } from '../../errors.js';
import { DEFAULT_RCRON_CONF, loadRcronConf } from './conf.js';
import { runRcron } from './run.js';

export const RCRON_USAGE = `Usage: rcron [--conf FILE] command [args...]

Runs command only on the node a cluster's state file calls active; on the others it exits 0
at once. Put it in front of a crontab line on every node of the cluster:

  12 11 * * * /usr/bin/rcron --conf /etc/rcron/rcronA.conf /usr/local/bin/myjob --flag

Options:
  --conf FILE    cluster conf (default ${DEFAULT_RCRON_CONF}); one file per cluster
  -h, --help     show this help
  -V, --version  show the version

Conf file (key = value, # starts a comment line; defaults in brackets):
  cluster_name     name in syslog and of the journal                  [default]
  state_file       holds "active" or "passive" (keepalived, state-keeper) [/var/run/rcron/state]
  default_state    used when state_file is unreadable or holds neither word [active]
  syslog_facility  LOG_CRON, LOG_USER, LOG_LOCAL0..7, ...             [LOG_CRON]
  syslog_level     LOG_INFO, LOG_NOTICE, ...                          [LOG_INFO]
  nice_level       added to the niceness of the job, as nice -n       [19]
  syslog_socket    the syslog daemon's datagram socket                [/dev/log]
  journal_dir      where started-but-unfinished jobs are recorded     [/var/lib/cronfleet/rcron/]

Exit status: the command's own (128+n if killed by signal n), 0 when passive,
127/126 when it cannot be started, 2 for a bad command line or conf file.
Syslog gets a line when a job starts (pid), ends (status, duration) or is skipped, and
the next run reports jobs whose rcron died before they ended; they are never relaunched.
`;

export interface RcronArgs {
  conf: string;
  command: string[];
}

export class RcronUsageError extends Error {}

/** `rcron [--conf FILE | --conf=FILE] [--] cmd [args...]`; options stop at the first word that is not one. */
export function parseRcronArgs(args: readonly string[]): RcronArgs | 'help' | 'version' {
  let conf = DEFAULT_RCRON_CONF;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-h' || a === '--help') return 'help';
    if (a === '-V' || a === '--version') return 'version';
    if (a === '--conf') {
      const v = args[i + 1];
      if (v === undefined) throw new RcronUsageError('--conf needs a file: rcron --conf FILE command [args...]');
      conf = v;
      i++;
      continue;
    }
    if (a.startsWith('--conf=')) {
      conf = a.slice('--conf='.length);
      continue;
    }
    if (a.startsWith('-')) throw new RcronUsageError(`unknown option "${a}": expected --conf FILE, --help, --version or the command`);
    break;
  }
  const command = args.slice(i);
  if (command.length === 0) throw new RcronUsageError('no command given: rcron [--conf FILE] command [args...]');
  return { conf, command };
}

/** Loads the conf and runs; a missing or invalid conf is exit status 2, never a silent run. */
export async function runRcronWithConf(confFile: string, command: string[]): Promise<number> {
  let conf;
  try {
    conf = loadRcronConf(confFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`rcron: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return runRcron(conf, command);
}

/** The `rcron` bin: `args` without node and script. */
export async function rcronMain(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseRcronArgs(args);
  } catch (err) {
    if (err instanceof RcronUsageError) {
      process.stderr.write(`rcron: ${err.message}\n(run rcron --help for usage)\n`);
      return 2;
    }
    throw err;
  }
  if (parsed === 'help') {
    process.stdout.write(RCRON_USAGE);
    return 0;
  }
  if (parsed === 'version') {
    const { VERSION } = await import('../../version.js');
    process.stdout.write(`rcron (cronfleet) ${VERSION}\n`);
    return 0;
  }
  return runRcronWithConf(parsed.conf, parsed.command);
}
