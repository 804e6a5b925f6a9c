import type { ScheduleSpec } from '../store/types.js';
import type { SpawnMode } from '../executor/launcher.js';
import type { TaskDef } from '../executor/task.js';
import type { MemoryProfile } from '../node/memory.js';

/** A node's config after validation: typed, defaults applied, durations in ms, paths absolute. */
export interface NodeConfig {
  /** The file it came from, when it came from one. */
  file: string | null;
  node: { name: string; tags: string[] };
  /** `sqlite:/abs/path.db`, `sqlite::memory:` or a postgres:// URL. */
  store: string;
  dataDir: string;
  timezone: string;
  tasks: Map<string, TaskDef>;
  schedules: ScheduleSpec[];
  executor: {
    concurrency: number;
    leaseMs: number;
    heartbeatMs: number;
    killGraceMs: number;
    shutdownGraceMs: number;
    prefetchMs: number;
    pollMs: number;
    spawn: SpawnMode;
  };
  /** False: this node creates no fires (it only executes). */
  scheduler: false | { misfireGraceMs: number; misfireLimit: number; leadMs: number };
  cluster: { nodeTtlMs: number };
  http: false | { host: string; port: number; metrics: 'open' | 'token'; bodyLimit: number };
  stateKeepers: Array<{ cluster: string; stateFile: string; priority: number; leaseMs: number }>;
  log: { level: string };
  /** Heap sizing of `serve` (see node/memory.ts). */
  memory: MemoryProfile;
  /** Pruning of finished runs and their logs; false keeps everything. */
  retention: false | { maxAgeMs: number | null; keepPerSchedule: number | null; everyMs: number };
  notifications: {
    webhooks: Array<{ url: string; secret: string | null; events: NotifyEvent[]; schedules: string[] | null; retries: number }>;
    mail: Array<{ smtp: string; from: string; to: string[]; events: NotifyEvent[]; schedules: string[] | null }>;
  };
}

/** What a notification is about: a run that failed, timed out or was lost, or a schedule that recovered. */
export type NotifyEvent = 'failed' | 'timed_out' | 'lost' | 'recovered';
