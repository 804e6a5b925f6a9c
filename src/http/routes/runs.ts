import { createReadStream, existsSync } from 'node:fs';
import { NotFoundError } from '../../errors.js';
import type { Run } from '../../store/types.js';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { followRun } from '../follow.js';
import { runJson } from '../json.js';
import { route, type RouteDef } from '../route.js';
import { errorOut, idParams, outputOut, outputQuery, runOut, runsPageOut, runsQuery } from '../schemas.js';

const tag = 'runs';

async function mustGet(ctx: ApiContext, id: number): Promise<Run> {
  const r = await ctx.store.getRun(id);
  if (!r) throw new NotFoundError('run', String(id));
  return r;
}

export const runRoutes: RouteDef[] = [
  route({
    method: 'GET',
    url: '/api/v1/runs',
    role: 'viewer',
    tag,
    summary: 'Runs, newest first, filtered; page with `before` = the previous page\'s `next`.',
    query: runsQuery,
    responses: { 200: { description: 'one page', schema: runsPageOut } },
    async handler(ctx, req) {
      const q = req.query;
      const runs = await ctx.store.listRuns({
        limit: q.limit,
        ...(q.schedule !== undefined && { schedule: q.schedule }),
        ...(q.node !== undefined && { node: q.node }),
        ...(q.task !== undefined && { task: q.task }),
        ...(q.status !== undefined && { status: q.status }),
        ...(q.from !== undefined && { from: q.from }),
        ...(q.to !== undefined && { to: q.to }),
        ...(q.before !== undefined && { before: q.before }),
      });
      return { runs: runs.map(runJson), next: runs.length === q.limit ? runs[runs.length - 1]!.id : null };
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/runs/:id',
    role: 'viewer',
    tag,
    summary: 'One run.',
    params: idParams,
    responses: { 200: { description: 'the run', schema: runOut } },
    async handler(ctx, req) {
      return runJson(await mustGet(ctx, req.params.id));
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/runs/:id/output',
    role: 'viewer',
    tag,
    summary: 'The last 256 KiB of the run\'s stdout and stderr, from the store (readable while it runs).',
    params: idParams,
    query: outputQuery,
    responses: { 200: { description: 'the tails', schema: outputOut } },
    async handler(ctx, req) {
      await mustGet(ctx, req.params.id);
      const out = (await ctx.store.getRunOutput(req.params.id)) ?? { stdout: '', stderr: '' };
      const s = req.query.stream;
      return { ...(s !== 'stderr' && { stdout: out.stdout }), ...(s !== 'stdout' && { stderr: out.stderr }) };
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/runs/:id/log',
    role: 'viewer',
    tag,
    summary: 'The full output file, when it is on the machine of the node answering.',
    params: idParams,
    responses: {
      200: { description: 'the log file', contentType: 'text/plain' },
      404: { description: 'no such run, or its log is on another machine', schema: errorOut },
    },
    async handler(ctx, req) {
      const run = await mustGet(ctx, req.params.id);
      if (!run.logPath || !existsSync(run.logPath)) {
        const where = run.node ? `on node "${run.node}"` : 'nowhere yet (the run has not started)';
        throw new ApiError(404, 'CF_ERR_LOG_ELSEWHERE', `the full log of run ${run.id} is ${where}, not on this node ("${ctx.node.name}"): ask that node's API, or read the last 256 KiB from /api/v1/runs/${run.id}/output`, 'params.id');
      }
      req.reply.type('text/plain; charset=utf-8').header('content-disposition', `attachment; filename="run-${run.id}.log"`);
      return req.reply.send(createReadStream(run.logPath));
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/runs/:id/follow',
    role: 'viewer',
    tag,
    summary: 'Server-Sent Events: `run` on state changes, `output` deltas ({stream, text}), `reset`, then `end` with the final status.',
    params: idParams,
    responses: { 200: { description: 'an event stream', contentType: 'text/event-stream' } },
    async handler(ctx, req) {
      const run = await mustGet(ctx, req.params.id);
      await followRun(ctx, req.reply, run);
      return req.reply;
    },
  }),
  route({
    method: 'POST',
    url: '/api/v1/runs/:id/cancel',
    role: 'operator',
    tag,
    summary: 'Cancel: a queued run at once; a running one is stopped by its node (TERM, then KILL).',
    params: idParams,
    responses: { 200: { description: 'the run', schema: runOut }, 409: { description: 'already finished', schema: errorOut } },
    async handler(ctx, req) {
      await mustGet(ctx, req.params.id);
      const run = await ctx.store.cancelRun(req.params.id, `cancelled through the API by ${req.token!.name}`, ctx.clock.now());
      await req.audit('run.cancel', String(run.id));
      return runJson(run);
    },
  }),
];
