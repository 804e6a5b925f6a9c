/**
 * distributed-cron's conf.json files, read unchanged: the client's
 * `{"job_servers":[{"server":..,"port":..}]}` and the worker's, which adds
 * `"jobs":{"name":"/path/script"}` and `"debug":bool`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { DEFAULT_GEARMAN_PORT, type ServerAddress } from '../../gearman/connection.js';

export const DEFAULT_CLIENT_CONF = '/etc/perl/cron/dist/client/conf.json';
export const DEFAULT_WORKER_CONF = '/etc/perl/cron/dist/worker/conf.json';

// Perl's JSON module hands numbers and numeric strings alike to Gearman, so both forms occur
// in the field: accept "4730" as well as 4730.
const port = z.union([
  z.number().int().min(1).max(65535),
  z
    .string()
    .regex(/^\d+$/, 'expected a port number from 1 to 65535')
    .transform(Number)
    .pipe(z.number().int().min(1, 'expected a port number from 1 to 65535').max(65535, 'expected a port number from 1 to 65535')),
]);

const jobServer = z.object({
  server: z.string().min(1, 'expected a host name or IP address'),
  port: port.optional(),
});

export const clientConfSchema = z.object({
  job_servers: z.array(jobServer).min(1, 'expected at least one {"server": host, "port": number}'),
});

// Perl treats any true value as on; conf files in the field carry true, 1 or "1".
const perlBool = z.union([z.boolean(), z.literal(0), z.literal(1), z.enum(['0', '1', 'true', 'false', ''])]).transform((v) => v === true || v === 1 || v === '1' || v === 'true');

export const workerConfSchema = clientConfSchema.extend({
  jobs: z.record(
    z.string().regex(/^[^\s\0]+$/, 'expected a task name without spaces'),
    z.string().startsWith('/', 'expected the absolute path of the script to run'),
  ),
  debug: perlBool.optional().default(false),
});

export interface ClientConf {
  file: string;
  servers: ServerAddress[];
}

export interface WorkerConf extends ClientConf {
  jobs: Record<string, string>;
  debug: boolean;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read: ${(err as Error).message}; expected a distributed-cron conf.json (see --help)`, file);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError('', `is not valid JSON: ${(err as Error).message}`, file);
  }
}

function check<T extends z.ZodType>(schema: T, value: unknown, file: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const where = issue.path.map(String).join('.');
  throw new ConfigError(where || '(top level)', issue.message, file);
}

const toServers = (list: Array<{ server: string; port?: number | undefined }>): ServerAddress[] =>
  list.map((s) => ({ host: s.server, port: s.port ?? DEFAULT_GEARMAN_PORT }));

export function parseClientConf(value: unknown, file: string): ClientConf {
  const c = check(clientConfSchema, value, file);
  return { file, servers: toServers(c.job_servers) };
}

export function parseWorkerConf(value: unknown, file: string): WorkerConf {
  const c = check(workerConfSchema, value, file);
  return { file, servers: toServers(c.job_servers), jobs: c.jobs, debug: c.debug };
}

export const loadClientConf = (file = DEFAULT_CLIENT_CONF): ClientConf => parseClientConf(readJson(file), file);
export const loadWorkerConf = (file = DEFAULT_WORKER_CONF): WorkerConf => parseWorkerConf(readJson(file), file);
