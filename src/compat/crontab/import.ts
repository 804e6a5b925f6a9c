import { CronSyntaxError } from '../../errors.js';
import { compileSchedule } from '../../time/index.js';

export interface CrontabImport {
  tasks: Record<string, { command: string; shell: true; user?: string; env?: Record<string, string> }>;
  schedules: Array<{ name: string; cron: string; task: string; timezone?: string; misfire: 'skip' }>;
  /** Lines that could not be carried over, each with its line number and why. */
  warnings: string[];
}

export interface ImportOptions {
  /** `auto`: the 6th field is a user when it names an account in `users`. */
  userField: 'auto' | 'yes' | 'no';
  /** Known account names (from /etc/passwd), for `auto`. */
  users: Set<string>;
  /** Prefix of generated task and schedule names. */
  prefix: string;
}

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

function slug(command: string): string {
  const first = command.trim().split(/\s+/)[0] ?? 'job';
  const base = first.split('/').pop() ?? first;
  return base.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'job';
}

/** Splits off `n` whitespace-separated fields, returning them and the untouched rest of the line. */
function fields(line: string, n: number): { head: string[]; rest: string } | null {
  const head: string[] = [];
  let rest = line.trimStart();
  for (let i = 0; i < n; i++) {
    const m = /^(\S+)\s+/.exec(rest);
    if (!m) return null;
    head.push(m[1]!);
    rest = rest.slice(m[0].length);
  }
  return { head, rest: rest.trim() };
}

/**
 * Turns a classic crontab (a user's, or /etc/crontab and cron.d files with the user field) into
 * tasks and schedules. Commands keep cron's semantics: they run through /bin/sh with the
 * crontab's variables in their environment. Classic cron does not catch up after downtime, so
 * imported schedules use misfire `skip`.
 */
export function importCrontab(text: string, opts: ImportOptions): CrontabImport {
  const result: CrontabImport = { tasks: {}, schedules: [], warnings: [] };
  const env: Record<string, string> = {};
  let timezone: string | undefined;
  const used = new Set<string>();
  text.split('\n').forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (assign) {
      const value = assign[2]!.replace(/^(['"])(.*)\1$/, '$2');
      if (assign[1] === 'CRON_TZ' || assign[1] === 'TZ') timezone = value;
      else if (assign[1] === 'MAILTO') result.warnings.push(`line ${lineNo}: MAILTO is not carried over; use notifications instead`);
      else if (assign[1] !== 'SHELL' || value !== '/bin/sh') env[assign[1]!] = value;
      return;
    }
    let cron: string;
    let rest: string;
    if (line.startsWith('@')) {
      const f = fields(line, 1);
      if (!f) return void result.warnings.push(`line ${lineNo}: "${line}" has no command`);
      if (f.head[0] === '@reboot') return void result.warnings.push(`line ${lineNo}: @reboot has no equivalent in a scheduler; left out: ${line}`);
      if (!MACROS.has(f.head[0]!.toLowerCase())) return void result.warnings.push(`line ${lineNo}: unknown macro ${f.head[0]}; left out`);
      cron = f.head[0]!;
      rest = f.rest;
    } else {
      const f = fields(line, 5);
      if (!f) return void result.warnings.push(`line ${lineNo}: expected 5 time fields and a command; left out: ${line}`);
      cron = f.head.join(' ');
      rest = f.rest;
    }
    let user: string | undefined;
    const u = fields(rest, 1);
    if (u && (opts.userField === 'yes' || (opts.userField === 'auto' && opts.users.has(u.head[0]!)))) {
      user = u.head[0]!;
      rest = u.rest;
    }
    if (rest === '') return void result.warnings.push(`line ${lineNo}: no command; left out`);
    if (/(^|[^\\])%/.test(rest)) {
      return void result.warnings.push(`line ${lineNo}: "%" (stdin for the command) is not carried over; rewrite the command with a here-string or printf; left out: ${line}`);
    }
    const command = rest.replace(/\\%/g, '%');
    try {
      compileSchedule(cron, { timezone: timezone ?? 'UTC', name: 'import' });
    } catch (err) {
      if (err instanceof CronSyntaxError) return void result.warnings.push(`line ${lineNo}: ${err.message}; left out`);
      throw err;
    }
    let name = `${opts.prefix}${slug(command)}`;
    for (let n = 2; used.has(name); n++) name = `${opts.prefix}${slug(command)}-${n}`;
    used.add(name);
    result.tasks[name] = {
      command,
      shell: true,
      ...(user !== undefined && { user }),
      ...(Object.keys(env).length > 0 && { env: { ...env } }),
    };
    result.schedules.push({ name, cron, task: name, ...(timezone !== undefined && { timezone }), misfire: 'skip' });
  });
  return result;
}
