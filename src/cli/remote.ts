import type { Command } from 'commander';
import type { NodeConfig } from '../config/types.js';
import { CronfleetError, UsageError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { CreatedFire, Run, RunFilter, RunOutput, Schedule, Target } from '../store/types.js';
import { withStore, type ConfigOpts } from './context.js';

/** What the listing and command verbs need: a store, or a node's API standing in for one. */
export type CliStore = Pick<
  Store,
  'clockNow' | 'listSchedules' | 'getSchedule' | 'setPaused' | 'triggerSchedule' | 'listRuns' | 'getRun' | 'getRunOutput' | 'cancelRun'
> & { readonly kind: Store['kind'] | 'remote' };

export interface RemoteOpts {
  api?: string;
  token?: string;
}

export function addRemoteOptions(cmd: Command): Command {
  return cmd
    .option('--api <url>', 'talk to a node\'s HTTP API (e.g. http://10.0.0.5:8080) instead of opening the store (default: $CRONFLEET_API)')
    .option('--token <token>', 'API token for --api (default: $CRONFLEET_TOKEN)');
}

/**
 * Runs `fn` against the store the config names, or, with --api (or $CRONFLEET_API), against a
 * node's API. Both give the same domain objects, so each command prints them with one code path.
 */
export async function withSource<T>(
  opts: ConfigOpts & RemoteOpts,
  fn: (store: CliStore, cfg: NodeConfig | null) => Promise<T>,
  { sync = false } = {},
): Promise<T> {
  const api = opts.api ?? process.env.CRONFLEET_API;
  if (!api) return withStore(opts, fn, { sync });
  const token = opts.token ?? process.env.CRONFLEET_TOKEN;
  if (!token) throw new UsageError('--api needs a token: give --token T or set CRONFLEET_TOKEN (create one with `cronfleet token create`)');
  let base: URL;
  try {
    base = new URL(api);
  } catch {
    throw new UsageError(`--api: "${api}" is not a URL; expected e.g. http://127.0.0.1:8080`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new UsageError(`--api: "${api}" is not an http:// or https:// URL`);
  return fn(new RemoteStore(base.href.replace(/\/$/, ''), token), null);
}

/** An error the remote API answered with; its code is the API's. */
export class RemoteError extends CronfleetError {}

const ms = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

type RunJson = Record<string, unknown> & { id: number; scheduledAt: string; notBefore: string; startedAt: string | null; finishedAt: string | null };

function runFromJson(j: RunJson): Run {
  return {
    id: j.id,
    schedule: j.schedule as string,
    task: j.task as string,
    scheduledAt: Date.parse(j.scheduledAt),
    attempt: j.attempt as number,
    status: j.status as Run['status'],
    targetNode: j.targetNode as string | null,
    targetTag: j.targetTag as string | null,
    node: j.node as string | null,
    notBefore: Date.parse(j.notBefore),
    createdAt: Date.parse(j.scheduledAt),
    startedAt: ms(j.startedAt),
    finishedAt: ms(j.finishedAt),
    leaseUntil: null,
    exitCode: j.exitCode as number | null,
    signal: j.signal as string | null,
    reason: j.reason as string | null,
    timeoutMs: null,
    cancelRequested: j.cancelRequested === true,
    logPath: j.logPath as string | null,
    manual: j.manual === true,
  };
}

function targetFromText(t: string): Target {
  return t === 'any' || t === 'all' ? { kind: t } : { kind: 'tag', tag: t.slice('tag:'.length) };
}

function scheduleFromJson(j: Record<string, any>): Schedule {
  return {
    name: j.name,
    expr: j.expr,
    timezone: j.timezone,
    task: j.task,
    target: targetFromText(j.target),
    concurrency: j.concurrency,
    misfire: j.misfire,
    misfireLimit: j.misfireLimit,
    retries: j.retries,
    timeoutMs: j.timeoutMs,
    jitterMs: j.jitterMs,
    source: j.source,
    enabled: j.enabled,
    paused: j.paused,
    cursor: ms(j.cursor),
    createdAt: 0,
    updatedAt: 0,
  };
}

/** The API's largest page; longer listings are fetched page by page. */
const PAGE = 500;

class RemoteStore implements CliStore {
  readonly kind = 'remote' as const;

  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: string, path: string, { missingOk = false } = {}): Promise<T | null> {
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers: { authorization: `Bearer ${this.token}` } });
    } catch (err) {
      throw new RemoteError('CF_ERR_REMOTE', `cannot reach the API at ${this.base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    if (res.status === 404 && missingOk) return null;
    const text = await res.text();
    let body: { code?: string; message?: string } | null = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!res.ok) {
      const message = `${this.base}: ${body?.message ?? `HTTP ${res.status}`}`;
      if (res.status === 400) throw new UsageError(message);
      throw new RemoteError(body?.code ?? 'CF_ERR_REMOTE', message);
    }
    return body as T;
  }

  async clockNow(): Promise<number> {
    return Date.now();
  }

  async listSchedules(): Promise<Schedule[]> {
    return (await this.call<Array<Record<string, unknown>>>('GET', '/api/v1/schedules'))!.map(scheduleFromJson);
  }

  async getSchedule(name: string): Promise<Schedule | null> {
    const j = await this.call<Record<string, unknown>>('GET', `/api/v1/schedules/${encodeURIComponent(name)}`, { missingOk: true });
    return j ? scheduleFromJson(j) : null;
  }

  async setPaused(name: string, paused: boolean): Promise<Schedule> {
    return scheduleFromJson((await this.call('POST', `/api/v1/schedules/${encodeURIComponent(name)}/${paused ? 'pause' : 'resume'}`))!);
  }

  async triggerSchedule(name: string): Promise<CreatedFire> {
    const j = (await this.call<{ schedule: string; scheduledAt: string; runs: RunJson[] }>('POST', `/api/v1/schedules/${encodeURIComponent(name)}/trigger`))!;
    return { schedule: j.schedule, scheduledAt: Date.parse(j.scheduledAt), manual: true, runs: j.runs.map(runFromJson) };
  }

  async listRuns(filter: RunFilter): Promise<Run[]> {
    const out: Run[] = [];
    let before = filter.before;
    while (out.length < filter.limit) {
      const q = new URLSearchParams({ limit: String(Math.min(PAGE, filter.limit - out.length)) });
      if (filter.schedule !== undefined) q.set('schedule', filter.schedule);
      if (filter.node !== undefined) q.set('node', filter.node);
      if (filter.task !== undefined) q.set('task', filter.task);
      if (filter.status?.length) q.set('status', filter.status.join(','));
      if (filter.from !== undefined) q.set('from', new Date(filter.from).toISOString());
      if (filter.to !== undefined) q.set('to', new Date(filter.to).toISOString());
      if (before !== undefined) q.set('before', String(before));
      const page = (await this.call<{ runs: RunJson[]; next: number | null }>('GET', `/api/v1/runs?${q}`))!;
      out.push(...page.runs.map(runFromJson));
      if (page.next === null) break;
      before = page.next;
    }
    return out;
  }

  async getRun(id: number): Promise<Run | null> {
    const j = await this.call<RunJson>('GET', `/api/v1/runs/${id}`, { missingOk: true });
    return j ? runFromJson(j) : null;
  }

  async getRunOutput(id: number): Promise<RunOutput | null> {
    return this.call<RunOutput>('GET', `/api/v1/runs/${id}/output`, { missingOk: true });
  }

  async cancelRun(id: number): Promise<Run> {
    return runFromJson((await this.call<RunJson>('POST', `/api/v1/runs/${id}/cancel`))!);
  }
}
