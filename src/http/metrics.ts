import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FinishStatus } from '../store/types.js';
import type { Store } from '../store/store.js';
import type { CreatedFire, Run } from '../store/types.js';

export interface MetricsSource {
  store: Store;
  now(): number;
  nodeTtlMs: number;
  /** Runs this node's sweeps have declared lost so far. */
  lostSwept(): number;
}

const SECONDS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];

/**
 * The node's Prometheus metrics. Event counts (fires, finished runs, durations, lateness) are what
 * this node saw; cluster gauges (nodes alive, skew) are read from the store at scrape time, so any
 * node of a cluster reports the whole cluster's health. One registry per node, so several nodes
 * in one process (tests, embedding) do not collide.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly fires: Counter<'schedule' | 'manual'>;
  private readonly finished: Counter<'schedule' | 'status'>;
  private readonly duration: Histogram<'task'>;
  private readonly lateness: Histogram<'task'>;
  private readonly storeLatency: Histogram<'op'>;
  private readonly http: Counter<'route' | 'status'>;
  private lostSeen = 0;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'cronfleet_process_' });
    this.fires = new Counter({ name: 'cronfleet_fires_total', help: 'Fires created by this node\'s scheduler (manual: run now).', labelNames: ['schedule', 'manual'], registers });
    this.finished = new Counter({ name: 'cronfleet_runs_total', help: 'Runs that reached a final status on this node (skipped when the fire was made).', labelNames: ['schedule', 'status'], registers });
    this.duration = new Histogram({ name: 'cronfleet_run_duration_seconds', help: 'Wall time of runs this node executed.', labelNames: ['task'], buckets: SECONDS, registers });
    this.lateness = new Histogram({ name: 'cronfleet_run_lateness_seconds', help: 'Start of a scheduled run minus its scheduled instant (jitter included).', labelNames: ['task'], buckets: SECONDS, registers });
    this.storeLatency = new Histogram({ name: 'cronfleet_store_query_seconds', help: 'Latency of store operations made by this node.', labelNames: ['op'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers });
    this.http = new Counter({ name: 'cronfleet_http_requests_total', help: 'API and UI requests by route and status.', labelNames: ['route', 'status'], registers });

    const lost = new Counter({ name: 'cronfleet_runs_lost_total', help: 'Runs this node\'s sweeps declared lost (their owner stopped heartbeating).', registers });
    const self = this;
    new Gauge({
      name: 'cronfleet_nodes_alive',
      help: 'Nodes whose heartbeat is younger than the cluster\'s nodeTtl.',
      registers,
      async collect() {
        const seen = source.lostSwept();
        if (seen > self.lostSeen) lost.inc(seen - self.lostSeen);
        self.lostSeen = seen;
        const now = source.now();
        const nodes = await source.store.listNodes({ counts: false }).catch(() => null);
        if (nodes) this.set(nodes.filter((n) => now - n.heartbeatAt <= source.nodeTtlMs).length);
      },
    });
    new Gauge({
      name: 'cronfleet_node_clock_skew_seconds',
      help: 'Each node\'s clock minus the store\'s, as last reported.',
      labelNames: ['node'],
      registers,
      async collect() {
        const nodes = await source.store.listNodes({ counts: false }).catch(() => null);
        this.reset();
        for (const n of nodes ?? []) this.set({ node: n.name }, n.clockSkewMs / 1000);
      },
    });
    new Gauge({
      name: 'cronfleet_node_running_runs',
      help: 'Runs each node holds right now.',
      labelNames: ['node'],
      registers,
      async collect() {
        const nodes = await source.store.listNodes().catch(() => null);
        this.reset();
        for (const n of nodes ?? []) this.set({ node: n.name }, n.running ?? 0);
      },
    });
  }

  recordFires(fires: CreatedFire[]): void {
    for (const f of fires) {
      this.fires.inc({ schedule: f.schedule, manual: String(f.manual) });
      for (const r of f.runs) if (r.status === 'skipped') this.finished.inc({ schedule: r.schedule, status: 'skipped' });
    }
  }

  recordFinished(run: Run, status: FinishStatus, startedAt: number, finishedAt: number): void {
    this.finished.inc({ schedule: run.schedule, status });
    this.duration.observe({ task: run.task }, Math.max(0, finishedAt - startedAt) / 1000);
    if (!run.manual && run.attempt === 1) this.lateness.observe({ task: run.task }, Math.max(0, startedAt - run.scheduledAt) / 1000);
  }

  recordRequest(route: string, status: number): void {
    this.http.inc({ route, status: String(status) });
  }

  /** The same store, timing every asynchronous operation into cronfleet_store_query_seconds. */
  instrument(store: Store): Store {
    const latency = this.storeLatency;
    // One timing wrapper per method, made on first use: store calls are on the hot path.
    const wrappers = new Map<string, unknown>();
    return new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function' || typeof prop !== 'string' || prop === 'watchQueued' || prop === 'close') return value;
        let wrapped = wrappers.get(prop);
        if (wrapped === undefined) {
          wrapped = function (this: unknown, ...args: unknown[]) {
            const t0 = performance.now();
            const out = (value as (...a: unknown[]) => unknown).apply(target, args);
            if (out instanceof Promise) {
              return out.finally(() => latency.observe({ op: prop }, (performance.now() - t0) / 1000));
            }
            return out;
          };
          wrappers.set(prop, wrapped);
        }
        return wrapped;
      },
    });
  }
}
