import Fastify from 'fastify';
import { VERSION } from '../version.js';
import { TokenCache, authenticate, authorize } from './auth.js';
import type { ApiContext } from './context.js';
import { errorHandler } from './errors.js';
import { openapiDocument } from './openapi.js';
import { registerRoutes, type RouteDef } from './route.js';
import { accessRoutes } from './routes/access.js';
import { nodeRoutes } from './routes/nodes.js';
import { runRoutes } from './routes/runs.js';
import { scheduleRoutes } from './routes/schedules.js';
import { registerUi } from './static.js';

export const API_ROUTES: RouteDef[] = [...scheduleRoutes, ...runRoutes, ...nodeRoutes, ...accessRoutes];

export interface HttpOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  bodyLimit: number;
  metrics: 'open' | 'token';
}

export interface HttpServer {
  /** `http://host:port` as bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The node's HTTP face: /healthz, the API under /api/v1, its OpenAPI document, and the UI at /. */
export async function startHttpServer(ctx: ApiContext, opts: HttpOptions): Promise<HttpServer> {
  ctx = { ...ctx, tokens: ctx.tokens ?? new TokenCache() };
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    // Followers of live output hold connections open; stopping the node must not wait for them.
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true },
  });
  // The API speaks JSON only: a text body is a client mistake worth a clear 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler(opts.bodyLimit, ctx.log));
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ code: 'CF_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}; see /api/v1/openapi.json`, field: null });
  });

  app.get('/healthz', async (_req, reply) => {
    try {
      await ctx.store.clockNow();
      return { status: 'ok', node: ctx.node.name, version: VERSION, store: ctx.store.kind };
    } catch {
      return reply.code(503).send({ status: 'store unreachable', node: ctx.node.name, version: VERSION, store: ctx.store.kind });
    }
  });
  const metrics = ctx.metrics;
  if (metrics) {
    app.addHook('onResponse', async (req, reply) => {
      // The route pattern, not the URL: ids and names would make a label per request.
      metrics.recordRequest(req.routeOptions.url ?? 'unmatched', reply.statusCode);
    });
    app.get('/metrics', async (req, reply) => {
      if (opts.metrics === 'token') authorize(await authenticate(ctx.store, req.headers.authorization, ctx.tokens), 'viewer');
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }

  const doc = openapiDocument(API_ROUTES);
  app.get('/api/v1/openapi.json', async () => doc);
  registerRoutes(app, ctx, API_ROUTES);
  registerUi(app);

  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  ctx.log.info({ url: `http://${host}:${port}` }, 'HTTP API and UI listening');
  return {
    url: `http://${host}:${port}`,
    port,
    close: () => app.close(),
  };
}
