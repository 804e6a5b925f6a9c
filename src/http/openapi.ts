import { z } from 'zod';
import { VERSION } from '../version.js';
import type { RouteDef } from './route.js';
import { errorOut } from './schemas.js';

function jsonSchema(schema: z.ZodType): unknown {
  // Inputs are documented as clients send them (strings in the query, before any transform).
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' });
}

/** `/a/:b/c` to OpenAPI's `/a/{b}/c`. */
const openapiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const js = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: s,
    ...(typeof (s as { description?: unknown }).description === 'string' && { description: (s as { description: string }).description }),
  }));
}

const ERRORS = {
  400: 'bad input: `field` names it and `message` says what was expected',
  401: 'no valid bearer token',
  403: 'the token\'s role is too low',
  404: 'not found',
  413: 'body larger than http.bodyLimit',
};

/** The OpenAPI 3 document, generated from the same route declarations and zod schemas the server uses. */
export function openapiDocument(routes: RouteDef[]): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { 'application/json': { schema: jsonSchema(errorOut) } };
  for (const r of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(r.responses)) {
      responses[status] = {
        description: res.description,
        ...(res.schema && { content: { [res.contentType ?? 'application/json']: { schema: jsonSchema(res.schema) } } }),
        ...(!res.schema && res.contentType && { content: { [res.contentType]: { schema: { type: 'string' } } } }),
      };
    }
    for (const [status, description] of Object.entries(ERRORS)) {
      if (r.role === 'open' && (status === '401' || status === '403')) continue;
      responses[status] ??= { description, content: error };
    }
    (paths[openapiPath(r.url)] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      ...(r.role !== 'open' && { security: [{ bearer: [] }], 'x-cronfleet-role': r.role }),
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body && { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } }),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'cronfleet API',
      version: VERSION,
      description: 'Roles: viewer (read) < operator (trigger, pause, resume, cancel, drain) < admin (schedules, tokens, audit).',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
