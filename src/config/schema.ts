import { z } from 'zod';

/**
 * The config file, as written by an operator. This schema is the single source of the file's
 * shape, its validation messages and its documentation; `load.ts` turns it into the typed
 * NodeConfig everything else uses.
 */

const duration = z
  .union([z.string(), z.number().nonnegative()], { error: 'expected a duration such as 30s, 5m, 1h30m (or a number of seconds)' })
  .describe('A duration: 500ms, 30s, 5m, 1h30m, 2d; a bare number is seconds.');

const name = z
  .string({ error: 'expected a name' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/, {
    error: 'expected a name of letters, digits and _ . : @ - (starting with a letter or digit, at most 128 characters)',
  });

const envMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String), {
  error: 'expected a map of variable names to values',
});

const taskCommon = {
  timeout: duration.optional().describe('Kill the task after this long (TERM to its process group, then KILL).'),
  description: z.string().optional(),
};

export const commandTaskSchema = z.strictObject({
  command: z
    .union([z.string().min(1), z.array(z.string()).min(1)], {
      error: 'expected an argv array such as [/usr/local/bin/backup, --full], or a string with shell: true',
    })
    .describe('argv array; a string only with `shell: true` (or a single word with no spaces).'),
  shell: z.boolean().default(false).describe('Run `command` through /bin/sh -c.'),
  cwd: z.string().optional(),
  env: envMap.optional(),
  user: z.union([z.string().min(1), z.number().int().nonnegative()]).optional().describe('Run as this user when the node is root.'),
  nice: z.number().int().min(-20, { error: 'expected a niceness from -20 to 19' }).max(19, { error: 'expected a niceness from -20 to 19' }).optional(),
  ...taskCommon,
});

export const httpTaskSchema = z.strictObject({
  http: z.strictObject({
    url: z.url({ error: 'expected an http:// or https:// URL' }),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], { error: 'expected one of GET, HEAD, POST, PUT, PATCH, DELETE' }).default('GET'),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.string().optional(),
    expect: z
      .union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)], {
        error: 'expected an HTTP status (100-599) or a list of them',
      })
      .optional(),
  }),
  ...taskCommon,
});

export const builtinTaskSchema = z.strictObject({
  builtin: z.enum(['noop'], { error: 'expected a built-in task: noop' }),
  ...taskCommon,
});

const gearmanServer = z.union(
  [
    z.string().regex(/^[^:\s]+(:\d{1,5})?$/),
    z.strictObject({ server: z.string().min(1), port: z.number().int().min(1).max(65535).default(4730) }),
  ],
  { error: 'expected "host:port" or { server: host, port: 4730 }' },
);

export const gearmanTaskSchema = z.strictObject({
  gearman: z.strictObject({
    function: z.string().min(1).max(255),
    servers: z.array(gearmanServer).min(1, { error: 'expected at least one job server' }),
    wait: z.boolean().default(false).describe('Wait for the job to complete, not only to be queued.'),
  }),
  ...taskCommon,
});

const taskKeys = ['command', 'http', 'builtin', 'gearman'] as const;

export const taskSchema = z.union([commandTaskSchema, httpTaskSchema, builtinTaskSchema, gearmanTaskSchema], {
  error: (issue) => {
    const input = issue.input;
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return 'expected a task: a map with one of command, http, builtin, gearman';
    const kinds = taskKeys.filter((k) => k in input);
    if (kinds.length !== 1) return `expected exactly one of ${taskKeys.join(', ')} (found ${kinds.length ? kinds.join(', ') : 'none'})`;
    return undefined;
  },
});

const targetError = 'expected any, all, "tag:NAME" or { tag: NAME }';
const target = z.union(
  [z.string().regex(/^(any|all|tag:.+)$/, { error: targetError }), z.strictObject({ tag: z.string().min(1) })],
  { error: targetError },
);

const misfireError = 'expected skip, run-once, run-all, or { policy: run-all, limit: N }';
const misfirePolicy = z.enum(['skip', 'run-once', 'run-all'], { error: misfireError });
const misfire = z.union(
  [misfirePolicy, z.strictObject({ policy: misfirePolicy, limit: z.number().int().min(1).max(100_000).optional() })],
  { error: misfireError },
);

const retries = z.union(
  [
    z.number().int().min(0).max(100),
    z.strictObject({ max: z.number().int().min(0).max(100), backoff: duration.optional() }),
  ],
  { error: 'expected a number of retries or { max: N, backoff: 30s }' },
);

export const scheduleSchema = z
  .strictObject({
    name,
    cron: z.string().min(1).optional().describe('Cron expression: 5 or 6 fields, @daily..., H for hash spread.'),
    every: duration.optional().describe('Fixed interval, anchored to the epoch so every node agrees.'),
    task: name,
    timezone: z.string().min(1).optional(),
    target: target.default('any'),
    concurrency: z.enum(['allow', 'forbid', 'replace'], { error: 'expected allow, forbid or replace' }).default('allow'),
    misfire: misfire.default('run-once'),
    retries: retries.default(0),
    timeout: duration.optional(),
    jitter: duration.optional(),
    remoteTask: z.boolean().default(false).describe('The task is offered by other nodes of the cluster, not by this one.'),
  })
  .refine((s) => (s.cron === undefined) !== (s.every === undefined), {
    error: 'expected exactly one of cron or every',
    path: ['cron'],
  });

const listen = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, { error: 'expected host:port, e.g. 127.0.0.1:8080' });

export const configSchema = z.strictObject({
  node: z
    .strictObject({
      name: name.optional().describe('Defaults to the host name.'),
      tags: z.array(z.string().min(1)).default([]),
    })
    .default({ tags: [] }),
  store: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, { error: 'expected sqlite:PATH (e.g. sqlite:./data/cronfleet.db) or postgres://user@host:5432/db' })
    .default('sqlite:./data/cronfleet.db').describe('sqlite:PATH (default) or postgres://user@host:5432/db'),
  dataDir: z.string().min(1).optional().describe('Where run logs are written; defaults to ./data beside the config.'),
  timezone: z.string().min(1).optional().describe('Default zone for schedules; defaults to the system zone.'),
  tasks: z.record(name, taskSchema).default({}),
  schedules: z.array(scheduleSchema).default([]),
  executor: z
    .strictObject({
      // Runs held at once, those claimed ahead for their instant included: 100,000 allows two
      // seconds of prefetch at 50,000 fires a second (built-in and HTTP tasks hold no process).
      concurrency: z.number().int().min(1).max(100_000).default(64),
      lease: duration.default('10s').describe('A run whose owner misses heartbeats this long is lost.'),
      heartbeat: duration.default('2s').describe('How often the node renews its leases and says it is alive: at most half the lease.'),
      killGrace: duration.default('10s').describe('Between TERM and KILL on timeout or cancel.'),
      shutdownGrace: duration.default('30s').describe('On SIGTERM, how long running tasks may finish.'),
      prefetch: duration
        .default('500ms')
        .describe('Runs due within this are claimed ahead and started at their instant by a local timer (0 to claim only due runs).'),
      poll: duration
        .optional()
        .describe('Poll for queued runs made by other processes: default 1s on SQLite, 30s on PostgreSQL (a safety net there: LISTEN/NOTIFY wakes nodes at once).'),
      spawn: z
        .enum(['helper', 'inline'], { error: 'expected helper (a small helper process starts the tasks) or inline (the node forks them itself)' })
        .default('helper')
        .describe('What forks command tasks: a fork costs time in proportion to the forking process\'s memory, and the node\'s is the larger.'),
    })
    .default({ concurrency: 64, lease: '10s', heartbeat: '2s', killGrace: '10s', shutdownGrace: '30s', prefetch: '500ms', spawn: 'helper' }),
  scheduler: z
    .union([
      z.literal(false),
      z.strictObject({
        misfireGrace: duration.default('30s').describe('An instant later than this is a misfire, handled by the policy.'),
        misfireLimit: z.number().int().min(1).max(100_000).default(100).describe('Most instants run-all runs.'),
        lead: duration
          .default('500ms')
          .describe('Fires of `allow` schedules are prepared this long before their instant and become claimable at it.'),
      }),
    ])
    .default({ misfireGrace: '30s', misfireLimit: 100, lead: '500ms' }),
  cluster: z
    // Three default beats: a killed node's runs are then swept, and retried, within the default
    // lease (10 s); waiting for each lease to end, plus a sweep interval, would be past it.
    .strictObject({ nodeTtl: duration.default('6s').describe('A node silent this long is dead and its runs lost: at least two heartbeats.') })
    .default({ nodeTtl: '6s' }),
  http: z
    .union([
      z.literal(false),
      z.strictObject({
        listen: listen.default('127.0.0.1:8080'),
        metrics: z
          .enum(['open', 'token'], { error: 'expected open or token' })
          .default('open')
          .describe('`open`: /metrics needs no token (for a scraper on a private network); `token`: a viewer token.'),
        bodyLimit: z
          .number({ error: 'expected a number of bytes' })
          .int()
          .min(1024, { error: 'expected at least 1024 bytes' })
          .max(16 * 1024 * 1024, { error: 'expected at most 16777216 bytes (16 MiB)' })
          .default(65_536)
          .describe('Largest request body accepted, in bytes; larger ones get 413.'),
      }),
    ])
    .default({ listen: '127.0.0.1:8080', metrics: 'open', bodyLimit: 65_536 }),
  stateKeepers: z
    .array(
      z.strictObject({
        cluster: z.string().min(1).describe('The rcron.conf cluster_name.'),
        stateFile: z.string().min(1).describe('The state_file that rcron reads.'),
        priority: z.number().int().default(0).describe('Higher is preferred when the lease is free.'),
        lease: duration.default('10s').describe('How long a dead holder keeps the cluster active.'),
      }),
    )
    .default([])
    .describe('rcron clusters whose state file this node keeps from a lease in the store (instead of keepalived).'),
  retention: z
    .union([
      z.literal(false),
      z.strictObject({
        maxAge: duration.optional().describe('Delete finished runs (and their logs) that finished longer ago than this, e.g. 30d.'),
        keepPerSchedule: z.number({ error: 'expected a number of runs' }).int().min(1).optional().describe('Keep only the newest N runs of each schedule.'),
        every: duration.default('1h').describe('How often to prune.'),
      }),
    ])
    .default(false)
    .describe('Finished runs are kept forever unless this says otherwise; fires are always kept.'),
  notifications: z
    .strictObject({
      webhooks: z
        .array(
          z.strictObject({
            url: z.url({ error: 'expected an http:// or https:// URL' }),
            secret: z.string().min(16, { error: 'expected a secret of at least 16 characters' }).optional().describe('Signs each body: X-Cronfleet-Signature: sha256=HMAC(secret, body).'),
            events: z.array(z.enum(['failed', 'timed_out', 'lost', 'recovered'], { error: 'expected failed, timed_out, lost or recovered' })).min(1).default(['failed', 'timed_out', 'lost', 'recovered']),
            schedules: z.array(name).min(1).optional().describe('Only these schedules (default: all).'),
            retries: z.number().int().min(0).max(20).default(3),
          }),
        )
        .default([]),
      mail: z
        .array(
          z.strictObject({
            smtp: z.string().regex(/^smtps?:\/\/.+/, { error: 'expected smtp://host:port or smtps://user:pass@host:465' }),
            from: z.email({ error: 'expected an email address' }),
            to: z.array(z.email({ error: 'expected an email address' })).min(1),
            events: z.array(z.enum(['failed', 'timed_out', 'lost', 'recovered'], { error: 'expected failed, timed_out, lost or recovered' })).min(1).default(['failed', 'timed_out', 'lost', 'recovered']),
            schedules: z.array(name).min(1).optional(),
          }),
        )
        .default([]),
    })
    .default({ webhooks: [], mail: [] }),
  log: z
    .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
    .default({ level: 'info' }),
  memory: z
    .enum(['lean', 'v8'], { error: 'expected lean (bounded young generation, old one grown by half what survives) or v8 (V8\'s own sizing)' })
    .default('lean')
    .describe('Heap sizing of serve: lean keeps a node with 10,000 schedules near 115 MB; v8 leaves V8\'s defaults.'),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type TaskFile = z.infer<typeof taskSchema>;
export type ScheduleFile = z.infer<typeof scheduleSchema>;
