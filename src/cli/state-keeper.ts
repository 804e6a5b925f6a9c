import { hostname } from 'node:os';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { StateKeeper } from '../statekeeper/keeper.js';
import { openStore } from '../store/index.js';
import { parseDuration } from '../time/duration.js';

function parseInteger(text: string, name: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new UsageError(`${name}: "${text}" is not an integer: expected e.g. 100 (higher is preferred)`);
  return Number(text);
}

/** `cronfleet state-keeper`: keepalived's job for rcron, done with a lease in the store. */
export function register(program: Command): void {
  program
    .command('state-keeper')
    .summary('keep an rcron state file active on exactly one node, from a lease in the store')
    .description(
      'Holds the lease "rcron:<cluster>" in the store and writes "active" to the state file on the\n' +
        'holder and "passive" on every other node, atomically (temp file + rename). When the\n' +
        'holder dies another node takes over about one lease time later. A keeper that cannot\n' +
        'confirm its lease in time (store unreachable, process paused) writes "passive" first.\n' +
        'Run one per cluster per node, pointing at the state_file of that cluster\'s rcron.conf.',
    )
    .requiredOption('--cluster <name>', 'cluster name (the rcron.conf cluster_name)')
    .requiredOption('--state-file <path>', 'the state file rcron reads')
    .requiredOption('--store <url>', 'postgres://user@host:port/database shared by the nodes')
    .option('--schema <name>', 'PostgreSQL schema of the store', 'public')
    .option('--priority <n>', 'higher is preferred when the lease is free', '0')
    .option('--lease <duration>', 'lease time: how long a dead holder keeps it', '10s')
    .option('--node <name>', 'this node\'s name in the lease', hostname())
    .addHelpText(
      'after',
      '\nExample (node a preferred for cluster A, node b for cluster B):\n' +
        '  a$ cronfleet state-keeper --cluster A --state-file /var/run/rcron/stateA --priority 100 --store postgres://cron@db/cron\n' +
        '  a$ cronfleet state-keeper --cluster B --state-file /var/run/rcron/stateB --priority 50  --store postgres://cron@db/cron\n' +
        '  b$ ... the same with the priorities swapped\n\n' +
        'Runs until SIGTERM or SIGINT, then writes passive and releases the lease. Exit 2 on bad options.',
    )
    .action(async (opts: { cluster: string; stateFile: string; store: string; schema: string; priority: string; lease: string; node: string }) => {
      const priority = parseInteger(opts.priority, '--priority');
      const leaseMs = parseDuration(opts.lease, '--lease');
      if (leaseMs < 1000) throw new UsageError(`--lease: "${opts.lease}" is too short: expected at least 1s`);
      if (!opts.store.startsWith('postgres://') && !opts.store.startsWith('postgresql://')) {
        throw new UsageError(`--store: "${opts.store}" is not a PostgreSQL URL: expected postgres://user@host:port/database (the nodes must share it)`);
      }
      const store = await openStore(opts.store, { schema: opts.schema });
      await store.migrate();
      const keeper = new StateKeeper({ store, cluster: opts.cluster, stateFile: opts.stateFile, node: opts.node, priority, leaseMs });
      keeper.start();
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.removeListener('SIGTERM', stop);
          process.removeListener('SIGINT', stop);
          resolve();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
      await keeper.stop();
      await store.close();
    });
}
