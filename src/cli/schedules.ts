import type { Command } from 'commander';
import { NotFoundError } from '../errors.js';
import type { Schedule } from '../store/types.js';
import { compileSchedule, formatInstant } from '../time/index.js';
import { addConfigOption, iso, out, printJson, runToJson, table, type ConfigOpts } from './context.js';
import { addRemoteOptions, withSource, type RemoteOpts } from './remote.js';

function targetText(s: Schedule): string {
  return s.target.kind === 'tag' ? `tag:${s.target.tag}` : s.target.kind;
}

function nextInstant(s: Schedule, now: number): number | null {
  if (!s.enabled || s.paused) return null;
  try {
    return compileSchedule(s.expr, { timezone: s.timezone, name: s.name }).nextAfter(Math.max(now, s.cursor ?? now));
  } catch {
    return null;
  }
}

export function scheduleToJson(s: Schedule, now: number) {
  const next = nextInstant(s, now);
  return {
    name: s.name,
    expr: s.expr,
    timezone: s.timezone,
    task: s.task,
    target: targetText(s),
    concurrency: s.concurrency,
    misfire: s.misfire,
    misfireLimit: s.misfireLimit,
    retries: { max: s.retries.max, backoffMs: s.retries.backoffMs },
    timeoutMs: s.timeoutMs,
    jitterMs: s.jitterMs,
    source: s.source,
    enabled: s.enabled,
    paused: s.paused,
    cursor: iso(s.cursor),
    next: iso(next),
  };
}

export function register(program: Command): void {
  addRemoteOptions(addConfigOption(
    program
      .command('schedules')
      .description('List schedules in the store with their next instant.')
      .option('--json', 'print JSON for scripts')
      .option('--all', 'include schedules removed from the config (disabled)'),
  )).action(async (opts: ConfigOpts & RemoteOpts & { json?: boolean; all?: boolean }) => {
    await withSource(opts, async (store) => {
      const now = await store.clockNow();
      const list = (await store.listSchedules()).filter((s) => opts.all || s.enabled);
      if (opts.json) return printJson(list.map((s) => scheduleToJson(s, now)));
      out(
        table(
          ['NAME', 'EXPR', 'ZONE', 'TASK', 'TARGET', 'STATE', 'NEXT'],
          list.map((s) => {
            const next = nextInstant(s, now);
            return [s.name, s.expr, s.timezone, s.task, targetText(s), !s.enabled ? 'disabled' : s.paused ? 'paused' : 'active', next === null ? null : formatInstant(next, s.timezone)];
          }),
        ),
      );
    }, { sync: true });
  });

  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    addRemoteOptions(addConfigOption(
      program
        .command(`${verb} <schedule>`)
        .description(paused ? 'Pause a schedule: no fires until resumed.' : 'Resume a paused schedule from now on (the pause is not replayed).')
        .option('--json', 'print the schedule as JSON'),
    )).action(async (name: string, opts: ConfigOpts & RemoteOpts & { json?: boolean }) => {
      await withSource(opts, async (store) => {
        if (!(await store.getSchedule(name))) throw new NotFoundError('schedule', name);
        const now = await store.clockNow();
        const s = await store.setPaused(name, paused, now);
        if (opts.json) return printJson(scheduleToJson(s, now));
        out(`${name}: ${paused ? 'paused' : `resumed${s.enabled ? '' : ' (but disabled: it is no longer in the config)'}`}`);
      }, { sync: true });
    });
  }

  addRemoteOptions(addConfigOption(
    program
      .command('trigger <schedule>')
      .description('Run a schedule now ("run now"), as a manual fire with the schedule\'s target and policies.')
      .option('--json', 'print the created runs as JSON'),
  )).action(async (name: string, opts: ConfigOpts & RemoteOpts & { json?: boolean }) => {
    await withSource(opts, async (store, cfg) => {
      const now = await store.clockNow();
      // Through the API the node fills these in itself.
      const fire = await store.triggerSchedule(name, { now, nodeTtlMs: cfg?.cluster.nodeTtlMs ?? 0, node: `cli@${cfg?.node.name ?? 'remote'}` });
      if (fire.runs.every((r) => r.status === 'skipped')) process.exitCode = 1;
      if (opts.json) {
        return printJson({ schedule: fire.schedule, scheduledAt: iso(fire.scheduledAt), runs: fire.runs.map(runToJson) });
      }
      for (const r of fire.runs) {
        out(`${name}: run ${r.id} ${r.status}${r.reason ? ` (${r.reason})` : ''}${r.targetNode ? ` for node ${r.targetNode}` : ''}`);
      }
      if (fire.runs.every((r) => r.status === 'skipped')) process.exitCode = 1;
    }, { sync: true });
  });
}
