import { hostname } from 'node:os';
import { OffsetClock, systemClock, type Clock } from '../clock.js';
import { repeat } from '../repeat.js';
import type { NodeConfig } from '../config/types.js';
import { Executor } from '../executor/executor.js';
import { launcherFor } from '../executor/launcher.js';
import type { NodeMetrics } from '../http/metrics.js';
import { Notifier } from '../http/notify/notifier.js';
import { Pruner } from '../http/retention.js';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../log/logger.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { StateKeeper } from '../statekeeper/keeper.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/store.js';
import type { NodeInfo } from '../store/types.js';
import { VERSION } from '../version.js';

export interface NodeOptions {
  log: Logger;
  /** Base clock (tests inject one); the node follows the store's clock on top of it. */
  clock?: Clock;
  /** Use this store instead of opening cfg.store (tests, embedding). */
  store?: Store;
}

export interface RunningNode {
  readonly config: NodeConfig;
  readonly store: Store;
  readonly clock: OffsetClock;
  readonly info: NodeInfo;
  readonly scheduler: Scheduler | null;
  readonly executor: Executor;
  /** The API and UI, when `http` is configured. */
  readonly http: HttpServer | null;
  /** Graceful stop; `graceMs` overrides the config's shutdown grace. */
  stop(graceMs?: number): Promise<void>;
}

/** Beyond this, a node's clock is reported as drifting (the store's clock stays the authority). */
export const CLOCK_SKEW_WARN_MS = 2_000;

/** Measures this node's clock against the store's, correcting for the round trip. */
export async function measureSkew(store: Store, base: Clock): Promise<number> {
  const t0 = base.now();
  const storeNow = await store.clockNow();
  const t1 = base.now();
  return Math.round((t0 + t1) / 2 - storeNow);
}

/**
 * Starts a node: store (migrated), config schedules synced, executor, and scheduler. The node's
 * clock is the base clock shifted to agree with the store's (DESIGN invariant 4).
 */
export async function startNode(cfg: NodeConfig, opts: NodeOptions): Promise<RunningNode> {
  const { log } = opts;
  const base = opts.clock ?? systemClock;
  const opened = opts.store ?? (await openStore(cfg.store, { dataDir: cfg.dataDir }));
  await opened.migrate();
  // Metrics go with the HTTP server that exposes them; the store is wrapped to time its calls.
  // Both are loaded only when configured: fastify and prom-client are ~10 MB of a node's RSS.
  const metrics: NodeMetrics | null = cfg.http
    ? new (await import('../http/metrics.js')).NodeMetrics({ store: opened, now: () => clock.now(), nodeTtlMs: cfg.cluster.nodeTtlMs, lostSwept: (): number => executor.stats.lostSwept })
    : null;
  const store: Store = metrics ? metrics.instrument(opened) : opened;

  const clock = new OffsetClock(base);
  let skewMs = await measureSkew(store, base);
  const applySkew = (skew: number) => {
    skewMs = skew;
    clock.offsetMs = store.kind === 'sqlite' ? 0 : -skew;
    if (Math.abs(skew) > CLOCK_SKEW_WARN_MS) {
      log.warn({ skewMs: skew }, 'this node\'s clock differs from the store\'s; following the store\'s clock');
    }
  };
  applySkew(skewMs);

  const sync = await store.syncConfigSchedules(cfg.schedules, clock.now());
  if (sync.added.length + sync.updated.length + sync.disabled.length > 0) {
    log.info({ added: sync.added, updated: sync.updated, disabled: sync.disabled }, 'config schedules synced');
  }

  const info: NodeInfo = {
    name: cfg.node.name,
    host: hostname(),
    pid: process.pid,
    version: VERSION,
    tasks: [...cfg.tasks.keys()],
    tags: cfg.node.tags,
    startedAt: clock.now(),
    scheduler: cfg.scheduler !== false,
  };
  const notifier = new Notifier({ store, clock, log: log.child({ role: 'notifier' }), node: info.name, channels: cfg.notifications });
  const executor: Executor = new Executor({
    store,
    clock,
    log: log.child({ role: 'executor' }),
    node: info,
    tasks: cfg.tasks,
    concurrency: cfg.executor.concurrency,
    leaseMs: cfg.executor.leaseMs,
    heartbeatMs: cfg.executor.heartbeatMs,
    killGraceMs: cfg.executor.killGraceMs,
    pollMs: cfg.executor.pollMs,
    prefetchMs: cfg.executor.prefetchMs,
    nodeTtlMs: cfg.cluster.nodeTtlMs,
    dataDir: cfg.dataDir,
    launcher: launcherFor(cfg.executor.spawn),
    clockSkewMs: () => skewMs,
    onFinished: (run, status, result, startedAt) => {
      // Lateness is judged on the store's clock, like the instant it is measured from.
      metrics?.recordFinished(run, status, startedAt, startedAt + (result.finishedAt - result.startedAt));
      notifier.runFinished(run, status, result);
    },
  });
  await executor.start();
  await notifier.start();
  const pruner = cfg.retention
    ? new Pruner({ store, clock, log: log.child({ role: 'retention' }), dataDir: cfg.dataDir, maxAgeMs: cfg.retention.maxAgeMs, keepPerSchedule: cfg.retention.keepPerSchedule, everyMs: cfg.retention.everyMs })
    : null;
  pruner?.start();

  let scheduler: Scheduler | null = null;
  if (cfg.scheduler) {
    scheduler = new Scheduler({
      store,
      clock,
      log: log.child({ role: 'scheduler' }),
      node: info.name,
      nodeTtlMs: cfg.cluster.nodeTtlMs,
      ...(metrics && { onFires: (fires) => metrics.recordFires(fires) }),
      misfireGraceMs: cfg.scheduler.misfireGraceMs,
      leadMs: cfg.scheduler.leadMs,
      // The executor takes the runs it would claim next as their fires are made: no claim each.
      claim: (now) => executor.fireClaim(now),
      onClaimed: (runs, claim, unanswered) => executor.takeClaimed(runs, claim, unanswered),
      markPlanned: (mark) => store.markPlanned(info.name, mark),
      // Live nodes that run a scheduler share the scheduling; one whose heartbeat lapses loses its share.
      peers: async () => {
        const now = clock.now();
        return (await store.listNodes({ counts: false }))
          .filter((n) => n.scheduler && !n.draining && now - n.heartbeatAt <= cfg.cluster.nodeTtlMs)
          .map((n) => ({ name: n.name, startedAt: n.startedAt, planned: n.planned }));
      },
    });
    await scheduler.start();
    scheduler.kick();
  }

  const keepers = cfg.stateKeepers.map((k) => {
    const klog = log.child({ role: 'state-keeper', cluster: k.cluster });
    if (store.kind === 'sqlite') klog.warn('the store is SQLite: the lease only coordinates processes on this machine; use PostgreSQL across nodes');
    const keeper = new StateKeeper({ store, cluster: k.cluster, stateFile: k.stateFile, node: info.name, priority: k.priority, leaseMs: k.leaseMs, log: (line) => klog.info(line) });
    keeper.start();
    return keeper;
  });

  // Re-measure the skew now and then: a drifting clock shows up in logs and heartbeats.
  const skewCheck = repeat(clock, 60_000, async () => applySkew(await measureSkew(store, base)), (err) =>
    log.debug({ err: (err as Error).message }, 'could not measure the clock skew; will retry'),
  );

  const http = cfg.http
    ? await (await import('../http/server.js')).startHttpServer({ store, clock, config: cfg, node: info, log: log.child({ role: 'http' }), metrics }, cfg.http)
    : null;

  log.info(
    { host: info.host, store: store.kind, tasks: info.tasks.length, schedules: cfg.schedules.length, scheduler: cfg.scheduler !== false },
    'node started',
  );

  let stopping: Promise<void> | null = null;
  return {
    config: cfg,
    store,
    clock,
    info,
    scheduler,
    executor,
    http,
    stop(graceMs?: number) {
      if (stopping) {
        if (graceMs === 0) executor.stopAll('node shutting down');
        return stopping;
      }
      stopping = (async () => {
        await skewCheck.stop();
        await http?.close();
        await Promise.all(keepers.map((k) => k.stop()));
        await scheduler?.stop();
        await executor.stop(graceMs ?? cfg.executor.shutdownGraceMs);
        await pruner?.stop();
        await notifier.stop();
        if (!opts.store) await store.close();
        log.info({ node: info.name }, 'node stopped');
      })();
      return stopping;
    },
  };
}
