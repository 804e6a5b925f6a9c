import { z } from 'zod';
import { NotFoundError } from '../../errors.js';
import { nodeJson } from '../json.js';
import { route, type RouteDef } from '../route.js';
import { drainBody, nodeOut, nodeParams } from '../schemas.js';

const tag = 'nodes';

export const nodeRoutes: RouteDef[] = [
  route({
    method: 'GET',
    url: '/api/v1/nodes',
    role: 'viewer',
    tag,
    summary: 'Nodes of the cluster: liveness (heartbeat against nodeTtl), tasks, tags, clock skew, running runs.',
    responses: { 200: { description: 'nodes by name', schema: z.array(nodeOut) } },
    async handler(ctx) {
      const now = ctx.clock.now();
      return (await ctx.store.listNodes()).map((n) => nodeJson(n, now, ctx.config.cluster.nodeTtlMs));
    },
  }),
  route({
    method: 'POST',
    url: '/api/v1/nodes/:name/drain',
    role: 'operator',
    tag,
    summary: 'Drain a node (it claims no new runs; running ones finish), or undo it with {"draining": false}.',
    params: nodeParams,
    body: drainBody,
    responses: { 200: { description: 'the node', schema: nodeOut } },
    async handler(ctx, req) {
      const draining = req.body?.draining ?? true;
      await ctx.store.setDraining(req.params.name, draining);
      await req.audit(draining ? 'node.drain' : 'node.undrain', req.params.name);
      const node = (await ctx.store.listNodes()).find((n) => n.name === req.params.name);
      if (!node) throw new NotFoundError('node', req.params.name);
      return nodeJson(node, ctx.clock.now(), ctx.config.cluster.nodeTtlMs);
    },
  }),
];
