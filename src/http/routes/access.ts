import { z } from 'zod';
import { newToken } from '../auth.js';
import { auditJson, tokenJson } from '../json.js';
import { route, type RouteDef } from '../route.js';
import { auditOut, auditQuery, tokenBody, tokenOut, tokenParams } from '../schemas.js';

const tag = 'access';

export const accessRoutes: RouteDef[] = [
  route({
    method: 'GET',
    url: '/api/v1/whoami',
    role: 'viewer',
    tag,
    summary: 'The token this request carries: its name and role.',
    responses: { 200: { description: 'the token', schema: z.object({ name: z.string(), role: z.string(), node: z.string() }) } },
    async handler(ctx, req) {
      return { name: req.token!.name, role: req.token!.role, node: ctx.node.name };
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/tokens',
    role: 'admin',
    tag,
    summary: 'Tokens (names and roles; the tokens themselves are never stored).',
    responses: { 200: { description: 'tokens', schema: z.array(tokenOut) } },
    async handler(ctx) {
      return (await ctx.store.listTokens()).map(tokenJson);
    },
  }),
  route({
    method: 'POST',
    url: '/api/v1/tokens',
    role: 'admin',
    tag,
    summary: 'Create a token; the response is the only time it is shown.',
    body: tokenBody,
    responses: { 201: { description: 'the token, once', schema: tokenOut.extend({ token: z.string() }) } },
    async handler(ctx, req) {
      const { token, hash } = newToken();
      const t = await ctx.store.createToken({ name: req.body.name, role: req.body.role, hash, now: ctx.clock.now() });
      await req.audit('token.create', t.name, { role: t.role });
      req.reply.code(201);
      return { ...tokenJson(t), token };
    },
  }),
  route({
    method: 'DELETE',
    url: '/api/v1/tokens/:name',
    role: 'admin',
    tag,
    summary: 'Revoke a token at once.',
    params: tokenParams,
    responses: { 200: { description: 'the revoked token', schema: tokenOut } },
    async handler(ctx, req) {
      const t = await ctx.store.revokeToken(req.params.name, ctx.clock.now());
      ctx.tokens?.clear();
      await req.audit('token.revoke', t.name);
      return tokenJson(t);
    },
  }),
  route({
    method: 'GET',
    url: '/api/v1/audit',
    role: 'admin',
    tag,
    summary: 'The audit log of operator and admin actions, newest first.',
    query: auditQuery,
    responses: { 200: { description: 'one page', schema: z.object({ entries: z.array(auditOut), next: z.number().nullable() }) } },
    async handler(ctx, req) {
      const entries = await ctx.store.listAudit({ limit: req.query.limit, ...(req.query.before !== undefined && { before: req.query.before }) });
      return { entries: entries.map(auditJson), next: entries.length === req.query.limit ? entries[entries.length - 1]!.id : null };
    },
  }),
];
