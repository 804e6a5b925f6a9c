import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandGroups, groupsFor } from '../../src/cli/commands.js';
import { cli } from '../helpers/cli.js';

describe('command groups', () => {
  it('name exactly the top-level commands their file registers', async () => {
    for (const group of commandGroups) {
      const program = new Command('cronfleet');
      (await group.load()).register(program);
      expect(program.commands.map((c) => c.name())).toEqual(group.commands);
    }
  });

  it('load only the group of the command being run', () => {
    expect(groupsFor(['node', 'cronfleet', 'serve', '--config', 'x.yaml'])).toEqual([commandGroups[0]]);
    expect(groupsFor(['node', 'cronfleet', 'resume', 'nightly']).map((g) => g.commands[0])).toEqual(['schedules']);
  });

  it('load every group for help, no command or an unknown command', () => {
    for (const argv of [['--help'], [], ['help', 'serve'], ['serv']]) {
      expect(groupsFor(['node', 'cronfleet', ...argv])).toBe(commandGroups);
    }
  });

  it('still lists every command in help and suggests the closest to a mistyped one', () => {
    const help = cli(['--help']);
    expect(help.status).toBe(0);
    for (const name of commandGroups.flatMap((g) => g.commands)) expect(help.stdout).toContain(`  ${name}`);
    const typo = cli(['serv']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain('(Did you mean serve?)');
  });
});
