import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { ApiToken, Role } from '../store/types.js';
import { authenticate, authorize } from './auth.js';
import type { ApiContext } from './context.js';
import { fromZod } from './errors.js';

/** What a handler gets: validated input, who is asking, and a way to record the action. */
export interface ApiRequest<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Null only on open routes. */
  token: ApiToken | null;
  /** Appends to the audit log as this request's token (operator and admin actions). */
  audit(action: string, target: string | null, detail?: unknown): Promise<void>;
  raw: FastifyRequest;
  reply: FastifyReply;
}

/**
 * One API route, declared once: the server registers it (auth, zod validation) and the OpenAPI
 * document is generated from the same declaration, so the two cannot disagree.
 */
export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** fastify syntax: `/api/v1/schedules/:name`. */
  url: string;
  role: Role | 'open';
  summary: string;
  tag: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Documented responses besides the errors every route shares. */
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
  handler(ctx: ApiContext, req: ApiRequest<P, Q, B>): Promise<unknown>;
}

/** Keeps each route's type parameters while collecting routes into one list. */
export function route<P, Q, B>(def: RouteDef<P, Q, B>): RouteDef {
  return def as unknown as RouteDef;
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw fromZod(r.error, where);
  return r.data;
}

export function registerRoutes(app: FastifyInstance, ctx: ApiContext, routes: RouteDef[]): void {
  for (const def of routes) {
    app.route({
      method: def.method,
      url: def.url,
      handler: async (raw, reply) => {
        let token: ApiToken | null = null;
        if (def.role !== 'open') {
          token = await authenticate(ctx.store, raw.headers.authorization, ctx.tokens);
          authorize(token, def.role);
        }
        const params = parse(def.params, raw.params, 'params');
        const query = parse(def.query, raw.query, 'query');
        const body = parse(def.body, raw.body, 'body');
        const req: ApiRequest<unknown, unknown, unknown> = {
          params,
          query,
          body,
          token,
          raw,
          reply,
          audit: async (action, target, detail) => {
            await ctx.store.appendAudit({
              at: ctx.clock.now(),
              actor: token ? token.name : 'anonymous',
              action,
              target,
              detail: detail === undefined ? null : JSON.stringify(detail),
            });
          },
        };
        const result = await def.handler(ctx, req);
        if (reply.sent) return reply;
        if (result === undefined) return reply.code(204).send();
        return result;
      },
    });
  }
}
