import { constants } from 'node:os';
import type { Command } from 'commander';
import { OffsetClock } from '../clock.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log/logger.js';
import { applyMemoryProfile, collectStartupGarbage } from '../node/memory.js';
import { startNode } from '../node/node.js';
import { addConfigOption, loadNodeConfig, type ConfigOpts } from './context.js';

export function register(program: Command): void {
  addConfigOption(
    program
      .command('serve')
      .description('Start a node: scheduler, executor (and HTTP API/UI when enabled) on the config\'s store.')
      .option('--no-scheduler', 'only execute runs; create no fires')
      .option('--log-level <level>', 'trace, debug, info, warn, error (default: the config\'s log.level)'),
  )
    .addHelpText(
      'after',
      `
Examples:
  cronfleet serve --config examples/cronfleet.yaml
  cronfleet serve --config /etc/cronfleet/cronfleet.yaml --store postgres://cronfleet@db:5432/cronfleet

SIGTERM or SIGINT stops claiming, lets running tasks finish within executor.shutdownGrace, then
stops them (recorded cancelled). A second signal stops them at once. A signal while the node is
still starting (waiting for its store, say) stops it as soon as it has started; a second one ends
it at once, with exit status 128 + the signal's number.`,
    )
    .action(async (opts: ConfigOpts & { scheduler: boolean; logLevel?: string }) => {
      const cfg = await loadNodeConfig(opts);
      if (!opts.scheduler) cfg.scheduler = false;
      applyMemoryProfile(cfg.memory);
      const log = createLogger({ level: opts.logLevel ?? cfg.log.level, name: cfg.node.name });
      // Shifts this process's clock, to rehearse a drifting machine: the node must flag it and keep
      // following the store's clock.
      const offset = process.env.CRONFLEET_CLOCK_OFFSET_MS;
      let clock: OffsetClock | undefined;
      if (offset !== undefined) {
        if (!/^-?\d+$/.test(offset)) throw new UsageError(`CRONFLEET_CLOCK_OFFSET_MS: "${offset}" is not a whole number of milliseconds`);
        clock = new OffsetClock();
        clock.offsetMs = Number(offset);
      }
      // The signals are heard from before the node starts: one that came between the "node started"
      // line and listening for it (a supervisor, or a test, acting on that line) ended the process
      // at once, by the default action, instead of stopping it gracefully.
      let node: Awaited<ReturnType<typeof startNode>> | null = null;
      let signals = 0;
      let stopped!: () => void;
      const done = new Promise<void>((resolve) => {
        stopped = resolve;
      });
      const stop = (): void => void node!.stop(signals === 1 ? undefined : 0).then(stopped);
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (!node) {
          // Still starting (a store that does not answer can hold it there): the first signal
          // stops it once it is up, a second one ends the process now, as the signal would have.
          log.info({ signal: sig }, signals === 1 ? 'stopping once started (a second signal stops at once)' : 'stopping now');
          if (signals > 1) process.exit(128 + constants.signals[sig]);
          return;
        }
        log.info({ signal: sig }, signals === 1 ? 'stopping gracefully' : 'stopping now');
        stop();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        node = await startNode(cfg, { log, ...(clock && { clock }) });
      } catch (err) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        throw err;
      }
      // The schedules are in the store now and the node reads them from there: the config's copy
      // (some 4 MB for 10,000 schedules) need not live as long as the process.
      cfg.schedules = [];
      collectStartupGarbage(cfg.memory);
      if (signals > 0) stop();
      await done;
      log.flush?.();
    });
}
