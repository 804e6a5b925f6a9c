import { scheduleToJson } from '../../cli/schedules.js';
import { scheduleSpecFrom } from '../../config/load.js';
import type { ScheduleFile } from '../../config/schema.js';
import { NotFoundError } from '../../errors.js';
import type { Schedule } from '../../store/types.js';
import { compileSchedule, formatInstant } from '../../time/index.js';
import { iso } from '../../cli/context.js';
import type { ApiContext } from '../context.js';
import { ApiError, badRequest } from '../errors.js';
import { runJson } from '../json.js';
import { route, type RouteDef } from '../route.js';
import { errorOut, nextOut, nextQuery, runOut, scheduleBody, scheduleOut, scheduleParams, scheduleUpdateBody, upcomingOut, upcomingQuery } from '../schemas.js';
import { z } from 'zod';

const tag = 'schedules';

async function mustGet(ctx: ApiContext, name: string): Promise<Schedule> {
  const s = await ctx.store.getSchedule(name);
  if (!s) throw new NotFoundError('schedule', name);
  return s;
}

/**
 * An API schedule only names a task; the node that runs it still looks the task up in its own
 * config. The name must be one some node offers, so a typo fails here rather than at 3 a.m.
 */
async function checkTask(ctx: ApiContext, task: string): Promise<void> {
  const offered = new Set(ctx.node.tasks);
  for (const n of await ctx.store.listNodes({ counts: false })) for (const t of n.tasks) offered.add(t);
  if (!offered.has(task)) {
    throw badRequest('body.task', `body.task: "${task}" is not a task any node offers (${[...offered].sort().join(', ') || 'none'}); tasks are defined in each node's config`);
  }
}

async function putSchedule(ctx: ApiContext, body: ScheduleFile) {
  const spec = {
    ...scheduleSpecFrom(body, { defaultZone: ctx.config.timezone, misfireLimit: ctx.config.scheduler ? ctx.config.scheduler.misfireLimit : 100 }),
    source: 'api' as const,
  };
  await checkTask(ctx, spec.task);
  const now = ctx.clock.now();
  return scheduleToJson(await ctx.store.putApiSchedule(spec, now), now);
}

/** The config file owns its schedules; the API says so instead of silently diverging from it. */
function configOwned(s: Schedule, verb: string): ApiError {
  return new ApiError(409, 'CF_ERR_CONFLICT', `schedule "${s.name}" comes from the config file of its nodes: ${verb} it there (only schedules made through the API can be changed here)`, 'params.name');
}

/** Fires of the next window per schedule, at most this many each (an every-second schedule has 3600 an hour). */
const UPCOMING_PER_SCHEDULE = 120;

export const scheduleRoutes: RouteDef[] = [
  route({
    method: 'GET',
    url: '/api/v1/schedules',
    role: 'viewer',
    tag,
    summary: 'List schedules (config and API) with their next instant.',
    responses: { 200: { description: 'schedules by name', schema: z.array(scheduleOut) } },
    async handler(ctx) {
      const now = ctx.clock.now();
      return (await ctx.store.listSchedules()).map((s) => scheduleToJson(s, now));
    },
  }),
  route({
    method: 'POST',
    url: '/api/v1/schedules',
    role: 'admin',
    tag,
    summary: 'Create an API schedule for a task some node offers.',
    body: scheduleBody,
    responses: { 201: { description: 'the schedule', schema: scheduleOut }, 409: { description: 'the name is taken', schema: errorOut } },
    async handler(ctx, req) {
      if (await ctx.store.getSchedule(req.body.name)) {
        throw new ApiError(409, 'CF_ERR_CONFLICT', `schedule "${req.body.name}" already exists: PUT /api/v1/schedules/${req.body.name} to change it`, 'body.name');
      }
      const out = await putSchedule(ctx, req.body);
      await req.audit('schedule.create', out.name, req.body);
      req.reply.code(201);
      return out;
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/schedules/:name',
    role: 'viewer',
    tag,
    summary: 'One schedule.',
    params: scheduleParams,
    responses: { 200: { description: 'the schedule', schema: scheduleOut } },
    async handler(ctx, req) {
      return scheduleToJson(await mustGet(ctx, req.params.name), ctx.clock.now());
    },
  }),
  route({
    method: 'PUT',
    url: '/api/v1/schedules/:name',
    role: 'admin',
    tag,
    summary: 'Create or replace an API schedule (config schedules answer 409).',
    params: scheduleParams,
    body: scheduleUpdateBody,
    responses: { 200: { description: 'the schedule', schema: scheduleOut }, 409: { description: 'a config schedule', schema: errorOut } },
    async handler(ctx, req) {
      if (req.body.name !== req.params.name) {
        throw badRequest('body.name', `body.name: "${req.body.name}" differs from the name in the path ("${req.params.name}"); renaming is delete + create`);
      }
      const existing = await ctx.store.getSchedule(req.params.name);
      if (existing?.source === 'config') throw configOwned(existing, 'change');
      const out = await putSchedule(ctx, req.body);
      await req.audit(existing ? 'schedule.update' : 'schedule.create', out.name, req.body);
      return out;
    },
  }),
  route({
    method: 'DELETE',
    url: '/api/v1/schedules/:name',
    role: 'admin',
    tag,
    summary: 'Delete an API schedule; its runs are kept.',
    params: scheduleParams,
    responses: { 204: { description: 'deleted' }, 409: { description: 'a config schedule', schema: errorOut } },
    async handler(ctx, req) {
      const s = await mustGet(ctx, req.params.name);
      if (s.source === 'config') throw configOwned(s, 'remove');
      await ctx.store.deleteApiSchedule(s.name);
      await req.audit('schedule.delete', s.name);
      return undefined;
    },
  }),
  ...(['pause', 'resume'] as const).map((verb) =>
    route({
      method: 'POST',
      url: `/api/v1/schedules/:name/${verb}`,
      role: 'operator',
      tag,
      summary: verb === 'pause' ? 'Pause: no fires until resumed.' : 'Resume from now on (the pause is not replayed).',
      params: scheduleParams,
      responses: { 200: { description: 'the schedule', schema: scheduleOut } },
      async handler(ctx, req) {
        await mustGet(ctx, req.params.name);
        const now = ctx.clock.now();
        const s = await ctx.store.setPaused(req.params.name, verb === 'pause', now);
        await req.audit(`schedule.${verb}`, s.name);
        return scheduleToJson(s, now);
      },
    }),
  ),
  route({
    method: 'POST',
    url: '/api/v1/schedules/:name/trigger',
    role: 'operator',
    tag,
    summary: 'Run now: a manual fire with the schedule\'s target and policies.',
    params: scheduleParams,
    responses: { 201: { description: 'the fire and its runs', schema: z.object({ schedule: z.string(), scheduledAt: z.string(), runs: z.array(runOut) }) } },
    async handler(ctx, req) {
      await mustGet(ctx, req.params.name);
      const fire = await ctx.store.triggerSchedule(req.params.name, {
        now: ctx.clock.now(),
        nodeTtlMs: ctx.config.cluster.nodeTtlMs,
        node: `api@${ctx.node.name}`,
      });
      await req.audit('schedule.trigger', fire.schedule, { runs: fire.runs.map((r) => r.id) });
      req.reply.code(201);
      return { schedule: fire.schedule, scheduledAt: iso(fire.scheduledAt), runs: fire.runs.map(runJson) };
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/schedules/:name/next',
    role: 'viewer',
    tag,
    summary: 'The next N instants, from the time engine, in UTC and in the schedule\'s zone.',
    params: scheduleParams,
    query: nextQuery,
    responses: { 200: { description: 'instants', schema: nextOut } },
    async handler(ctx, req) {
      const s = await mustGet(ctx, req.params.name);
      const now = ctx.clock.now();
      const from = req.query.from ?? Math.max(now, s.cursor ?? now);
      const instants = compileSchedule(s.expr, { timezone: s.timezone, name: s.name }).next(from, req.query.n);
      return { schedule: s.name, timezone: s.timezone, instants: instants.map((t) => ({ at: iso(t)!, local: formatInstant(t, s.timezone) })) };
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/upcoming',
    role: 'viewer',
    tag,
    summary: 'Fires due in the next minutes across active schedules (the dashboard\'s timeline).',
    query: upcomingQuery,
    responses: { 200: { description: 'fires in time order', schema: upcomingOut } },
    async handler(ctx, req) {
      const now = ctx.clock.now();
      const until = now + req.query.minutes * 60_000;
      const fires: Array<{ schedule: string; at: number }> = [];
      const truncated: string[] = [];
      for (const s of await ctx.store.listSchedules()) {
        if (!s.enabled || s.paused) continue;
        const compiled = compileSchedule(s.expr, { timezone: s.timezone, name: s.name });
        let t = compiled.nextAfter(Math.max(now, s.cursor ?? now));
        for (let i = 0; t !== null && t < until; i++) {
          if (i === UPCOMING_PER_SCHEDULE) {
            truncated.push(s.name);
            break;
          }
          fires.push({ schedule: s.name, at: t });
          t = compiled.nextAfter(t);
        }
      }
      fires.sort((a, b) => a.at - b.at || a.schedule.localeCompare(b.schedule));
      return { from: iso(now)!, to: iso(until)!, fires: fires.map((f) => ({ schedule: f.schedule, at: iso(f.at)! })), truncated };
    },
  }),
];
