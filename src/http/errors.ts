import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ConfigError, CronSyntaxError, CronfleetError, NotFoundError, ConflictError, UsageError } from '../errors.js';

/** The body of every error response: a stable code, what was wrong and expected, and where. */
export interface ErrorBody {
  code: string;
  message: string;
  /** The offending field (`body.cron`, `query.limit`, `params.id`), or null when none applies. */
  field: string | null;
}

/** A request the API refuses, with the HTTP status it maps to. */
export class ApiError extends CronfleetError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(code, message);
  }
}

export const badRequest = (field: string, message: string) => new ApiError(400, 'CF_ERR_BAD_REQUEST', message, field);

/** The first zod issue as an API error: the field path under `where` (body, query, params). */
export function fromZod(error: z.ZodError, where: string): ApiError {
  const issue = error.issues[0]!;
  const field = [where, ...issue.path.map(String)].join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  else if (issue.code === 'invalid_type' && issue.input === undefined) message = `is required (${issue.message})`;
  return badRequest(field, `${field}: ${message}`);
}

function toBody(err: unknown, bodyLimit: number): { status: number; body: ErrorBody } {
  if (err instanceof ApiError) return { status: err.status, body: { code: err.code, message: err.message, field: err.field } };
  if (err instanceof NotFoundError) return { status: 404, body: { code: err.code, message: err.message, field: null } };
  if (err instanceof ConflictError) return { status: 409, body: { code: err.code, message: err.message, field: null } };
  if (err instanceof CronSyntaxError) return { status: 400, body: { code: err.code, message: err.message, field: 'body.cron' } };
  if (err instanceof ConfigError) return { status: 400, body: { code: err.code, message: err.message, field: err.path ? `body.${err.path}` : null } };
  if (err instanceof UsageError) return { status: 400, body: { code: err.code, message: err.message, field: null } };
  const fe = err as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, body: { code: 'CF_ERR_BODY_TOO_LARGE', message: `body: larger than the limit of ${bodyLimit} bytes (http.bodyLimit in the node's config)`, field: 'body' } };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return { status: 415, body: { code: 'CF_ERR_MEDIA_TYPE', message: 'expected a JSON body (Content-Type: application/json)', field: 'body' } };
  }
  if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (fe.statusCode === 400 && fe.code?.startsWith('FST_ERR_CTP'))) {
    return { status: 400, body: { code: 'CF_ERR_BAD_REQUEST', message: `body: expected a JSON object (${fe.message})`, field: 'body' } };
  }
  if (fe.statusCode === 400 && err instanceof SyntaxError) {
    return { status: 400, body: { code: 'CF_ERR_BAD_REQUEST', message: `body: expected valid JSON (${err.message})`, field: 'body' } };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { code: 'CF_ERR_BAD_REQUEST', message: fe.message ?? 'bad request', field: null } };
  }
  return { status: 500, body: { code: 'CF_ERR_INTERNAL', message: 'internal error; see the node\'s log', field: null } };
}

export function errorHandler(bodyLimit: number, log: { error(obj: object, msg: string): void }) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply): void => {
    const { status, body } = toBody(err, bodyLimit);
    if (status >= 500) log.error({ err, method: req.method, url: req.url }, 'request failed');
    void reply.code(status).type('application/json').send(body);
  };
}
