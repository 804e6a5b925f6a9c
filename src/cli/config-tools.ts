import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { importCrontab } from '../compat/crontab/import.js';
import { UsageError } from '../errors.js';
import { compileSchedule, formatInstant } from '../time/index.js';
import { addConfigOption, iso, loadConfig, out, printJson, resolveConfigPath, table, type ConfigOpts } from './context.js';

function readUsers(): Set<string> {
  try {
    return new Set(readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')[0]!).filter(Boolean));
  } catch {
    return new Set();
  }
}

export function register(program: Command): void {
  addConfigOption(
    program
      .command('validate')
      .description('Check a config file: syntax, tasks, schedules, cron expressions and zones. Exit 0 when valid, 2 when not.')
      .option('--json', 'print the checked config summary as JSON'),
  ).action((opts: ConfigOpts & { json?: boolean }) => {
    const file = resolveConfigPath(opts.config);
    const cfg = loadConfig({ ...opts, config: file });
    const now = Date.now();
    const schedules = cfg.schedules.map((s) => {
      const next = compileSchedule(s.expr, { timezone: s.timezone, name: s.name }).nextAfter(now);
      return { name: s.name, expr: s.expr, timezone: s.timezone, task: s.task, next: iso(next), nextLocal: next === null ? null : formatInstant(next, s.timezone) };
    });
    if (opts.json) {
      return printJson({ valid: true, file: cfg.file, node: cfg.node, store: cfg.store.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@'), tasks: [...cfg.tasks.keys()], schedules });
    }
    out(`${file}: valid (node ${cfg.node.name}, ${cfg.tasks.size} tasks, ${cfg.schedules.length} schedules, store ${cfg.store.split(':')[0]})`);
    if (schedules.length > 0) out(table(['SCHEDULE', 'EXPR', 'TASK', 'NEXT'], schedules.map((s) => [s.name, s.expr, s.task, s.nextLocal])));
  });

  program
    .command('import-crontab <file>')
    .description('Turn a classic crontab into cronfleet tasks and schedules (YAML to paste into a config).')
    .option('--user-field <mode>', 'whether lines carry a user field after the time fields: auto, yes (/etc/crontab, cron.d), no', 'auto')
    .option('--prefix <text>', 'prefix for generated task and schedule names', '')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--json', 'print JSON instead of YAML')
    .addHelpText('after', `
Examples:
  crontab -l > my.crontab && cronfleet import-crontab my.crontab -o cronfleet.yaml
  cronfleet import-crontab /etc/crontab --user-field yes --prefix sys-

Commands run through /bin/sh like cron's; crontab variables become the tasks' env and CRON_TZ
the schedules' zone. Lines that cannot be carried over (@reboot, % as stdin) are listed on
stderr and in the output's header, never dropped silently. Exit status 1 when any line was left out.`)
    .action((file: string, opts: { userField: string; prefix: string; output?: string; json?: boolean }) => {
      if (!['auto', 'yes', 'no'].includes(opts.userField)) throw new UsageError(`--user-field: "${opts.userField}" is not one of auto, yes, no`);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new UsageError(`${file}: cannot read: ${(err as Error).message}`);
      }
      const result = importCrontab(text, { userField: opts.userField as 'auto' | 'yes' | 'no', users: readUsers(), prefix: opts.prefix });
      for (const w of result.warnings) process.stderr.write(`import-crontab: ${file}: ${w}\n`);
      const body = opts.json
        ? JSON.stringify({ tasks: result.tasks, schedules: result.schedules, warnings: result.warnings }, null, 2) + '\n'
        : `# Imported from ${file}: ${result.schedules.length} schedules.\n` +
          result.warnings.map((w) => `# not imported: ${w}\n`).join('') +
          stringify({ tasks: result.tasks, schedules: result.schedules });
      if (opts.output) writeFileSync(opts.output, body);
      else process.stdout.write(body);
      if (result.warnings.length > 0) process.exitCode = 1;
    });
}
