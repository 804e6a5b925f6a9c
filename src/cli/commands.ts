import type { Command } from 'commander';

/** A command group: one file under src/cli/ and the top-level commands it registers. */
export interface CommandGroup {
  readonly commands: readonly string[];
  load(): Promise<{ register(program: Command): void }>;
}

/**
 * Every command group, in the order help lists them. A group's file is imported only when one of
 * its commands runs (help and unknown commands load them all): `serve` then loads neither the
 * HTTP client and gearman code of the other commands nor what they import, ~16 MB of a node's RSS.
 */
export const commandGroups: readonly CommandGroup[] = [
  { commands: ['serve'], load: () => import('./serve.js') },
  { commands: ['validate', 'import-crontab'], load: () => import('./config-tools.js') },
  { commands: ['schedules', 'pause', 'resume', 'trigger'], load: () => import('./schedules.js') },
  { commands: ['runs', 'logs', 'cancel'], load: () => import('./runs.js') },
  { commands: ['rcron'], load: () => import('./rcron.js') },
  { commands: ['state-keeper'], load: () => import('./state-keeper.js') },
  { commands: ['submit'], load: () => import('./submit.js') },
  { commands: ['gearman-worker'], load: () => import('./gearman-worker.js') },
  { commands: ['next'], load: () => import('./next.js') },
  { commands: ['nodes', 'drain', 'undrain'], load: () => import('./nodes.js') },
  { commands: ['token'], load: () => import('./token.js') },
];

/** The groups that running `argv` needs: the one that owns its command, else all of them. */
export function groupsFor(argv: readonly string[]): readonly CommandGroup[] {
  const name = argv[2];
  const owner = name === undefined ? undefined : commandGroups.find((g) => g.commands.includes(name));
  return owner ? [owner] : commandGroups;
}
