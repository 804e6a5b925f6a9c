import { z } from 'zod';
import { scheduleSchema } from '../config/schema.js';
import { RUN_STATUSES, ROLES, type RunStatus } from '../store/types.js';

/**
 * The API's input and output shapes. Inputs are parsed with these at the edge; outputs are
 * documented with them in the OpenAPI document (the handlers build them with the same helpers
 * the CLI's --json uses).
 */

const nameText = 'a name of letters, digits and _ . : @ - (starting with a letter or digit, at most 128 characters)';
export const nameParam = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/, { error: `expected ${nameText}` });

const positiveInt = (what: string, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d{1,15}$/, { error: `expected ${what}: a whole number from 1 to ${max}` })
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, { error: `expected ${what}: a whole number from 1 to ${max}` });

const instant = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), {
    error: 'expected an ISO 8601 instant such as 2027-03-14T03:00:00Z',
  })
  .transform((s) => Date.parse(s));

const statusList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()))
  .refine((list) => list.every((s) => (RUN_STATUSES as readonly string[]).includes(s)), {
    error: `expected run statuses, comma-separated, from ${RUN_STATUSES.join(', ')}`,
  })
  .transform((list) => list as RunStatus[]);

export const idParams = z.strictObject({ id: positiveInt('a run id') });
export const scheduleParams = z.strictObject({ name: nameParam });
export const nodeParams = z.strictObject({ name: z.string().min(1).max(255, { error: 'expected a node name' }) });
export const tokenParams = z.strictObject({ name: nameParam });

export const RUNS_PAGE_MAX = 500;

export const runsQuery = z.strictObject({
  schedule: nameParam.optional(),
  node: z.string().min(1, { error: 'expected a node name' }).optional(),
  task: nameParam.optional(),
  status: statusList.optional(),
  from: instant.optional().describe('scheduled at or after this instant'),
  to: instant.optional().describe('scheduled before this instant'),
  before: positiveInt('a run id').optional().describe('page cursor: runs with a smaller id (the `next` of the previous page)'),
  limit: positiveInt('a page size', RUNS_PAGE_MAX).default(50),
});

export const nextQuery = z.strictObject({
  n: positiveInt('a count', 1000).default(10),
  from: instant.optional(),
});

export const upcomingQuery = z.strictObject({
  minutes: positiveInt('a number of minutes', 24 * 60).default(60),
});

export const auditQuery = z.strictObject({
  before: positiveInt('an audit entry id').optional(),
  limit: positiveInt('a page size', RUNS_PAGE_MAX).default(100),
});

export const outputQuery = z.strictObject({
  stream: z.enum(['stdout', 'stderr', 'both'], { error: 'expected stdout, stderr or both' }).default('both'),
});

/** An API schedule is written like a config-file schedule. */
export const scheduleBody = scheduleSchema;
/** PUT names the schedule in the path; a name in the body must agree. */
export const scheduleUpdateBody = scheduleSchema;

export const tokenBody = z.strictObject({
  name: nameParam,
  role: z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` }),
});

export const drainBody = z.strictObject({ draining: z.boolean({ error: 'expected true or false' }).default(true) }).optional();

// --- outputs (documentation) ---------------------------------------------------------------

const isoOrNull = z.string().nullable().describe('ISO 8601 instant');

export const runOut = z.object({
  id: z.number().int(),
  schedule: z.string(),
  task: z.string(),
  node: z.string().nullable(),
  scheduledAt: z.string(),
  attempt: z.number().int(),
  status: z.enum(RUN_STATUSES),
  startedAt: isoOrNull,
  finishedAt: isoOrNull,
  durationMs: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  reason: z.string().nullable(),
  targetNode: z.string().nullable(),
  targetTag: z.string().nullable(),
  manual: z.boolean(),
  notBefore: z.string(),
  logPath: z.string().nullable(),
  cancelRequested: z.boolean(),
});

export const runsPageOut = z.object({
  runs: z.array(runOut),
  next: z.number().int().nullable().describe('pass as `before` for the next page; null on the last page'),
});

export const scheduleOut = z.object({
  name: z.string(),
  expr: z.string(),
  timezone: z.string(),
  task: z.string(),
  target: z.string(),
  concurrency: z.enum(['allow', 'forbid', 'replace']),
  misfire: z.enum(['skip', 'run-once', 'run-all']),
  misfireLimit: z.number().int(),
  retries: z.object({ max: z.number().int(), backoffMs: z.number() }),
  timeoutMs: z.number().nullable(),
  jitterMs: z.number(),
  source: z.enum(['config', 'api']),
  enabled: z.boolean(),
  paused: z.boolean(),
  cursor: isoOrNull,
  next: isoOrNull,
});

export const nextOut = z.object({
  schedule: z.string(),
  timezone: z.string(),
  instants: z.array(z.object({ at: z.string(), local: z.string().describe('in the schedule\'s zone, with its offset') })),
});

export const upcomingOut = z.object({
  from: z.string(),
  to: z.string(),
  fires: z.array(z.object({ schedule: z.string(), at: z.string() })),
  truncated: z.array(z.string()).describe('schedules with more fires in the window than listed'),
});

export const nodeOut = z.object({
  name: z.string(),
  host: z.string(),
  pid: z.number().int(),
  version: z.string(),
  tasks: z.array(z.string()),
  tags: z.array(z.string()),
  startedAt: z.string(),
  heartbeatAt: z.string(),
  heartbeatAgeMs: z.number(),
  state: z.enum(['alive', 'draining', 'dead']),
  alive: z.boolean().describe('heartbeat younger than the cluster\'s nodeTtl'),
  draining: z.boolean(),
  clockSkewMs: z.number(),
  running: z.number().int(),
  scheduler: z.boolean().describe('runs a scheduler: shares the scheduling of the cluster\'s schedules'),
});

export const outputOut = z.object({ stdout: z.string().optional(), stderr: z.string().optional() }).describe('the last 256 KiB of each stream');

export const tokenOut = z.object({
  id: z.number().int(),
  name: z.string(),
  role: z.enum(ROLES),
  createdAt: z.string(),
  revokedAt: isoOrNull,
});

export const auditOut = z.object({
  id: z.number().int(),
  at: z.string(),
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  detail: z.unknown().nullable(),
});

export const errorOut = z.object({
  code: z.string().describe('stable, e.g. CF_ERR_BAD_REQUEST, CF_ERR_UNAUTHORIZED, CF_ERR_FORBIDDEN, CF_ERR_NOT_FOUND, CF_ERR_CONFLICT'),
  message: z.string().describe('what was wrong and what was expected'),
  field: z.string().nullable().describe('the offending field, e.g. body.cron or query.limit'),
});
