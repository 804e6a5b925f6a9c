import { repeat, type Repeating } from '../../repeat.js';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { NodeConfig, NotifyEvent } from '../../config/types.js';
import type { TaskResult } from '../../executor/task.js';
import type { Logger } from '../../log/logger.js';
import type { Store } from '../../store/store.js';
import type { FinishStatus, Run } from '../../store/types.js';
import { sendMail, sendWebhook } from './channels.js';
import { notification } from './message.js';

const BAD = new Set(['failed', 'timed_out', 'lost']);
/** Statuses that say nothing about a schedule's health. */
const NEUTRAL = new Set(['skipped', 'cancelled', 'queued', 'running']);

export interface NotifierOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  node: string;
  channels: NodeConfig['notifications'];
  /** First retry delay of a webhook; doubles each time. */
  backoffMs?: number;
  /** How often lost runs are looked for. */
  lostPollMs?: number;
}

/**
 * Sends webhooks and mails when runs fail, time out or are lost, and when a schedule succeeds
 * again after failing. Failures and recoveries are seen by the node that ran them; lost runs
 * are found by polling the store under a lease, so one node of a cluster reports each.
 */
export class Notifier {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly seenLost = new Set<number>();
  private poll: Repeating | null = null;

  constructor(private readonly opts: NotifierOptions) {}

  get enabled(): boolean {
    return this.opts.channels.webhooks.length + this.opts.channels.mail.length > 0;
  }

  async start(): Promise<void> {
    if (!this.enabled || !this.wants('lost')) return;
    // Runs already lost before this node started were someone else's news.
    for (const r of await this.opts.store.listRuns({ status: ['lost'], limit: 1000 })) this.seenLost.add(r.id);
    this.poll = repeat(this.opts.clock, this.opts.lostPollMs ?? 5_000, () => this.pollLost(), (err) =>
      this.opts.log.warn({ err: (err as Error).message }, 'looking for lost runs failed'),
    );
  }

  /** Waits for deliveries in flight (each is bounded by its retries). */
  async stop(): Promise<void> {
    await this.poll?.stop();
    await Promise.allSettled([...this.pending]);
  }

  /** Executor hook: a run this node executed has ended (`run` is as claimed; `result` says how it ended). */
  runFinished(claimed: Run, status: FinishStatus, result: TaskResult): void {
    if (!this.enabled) return;
    const run: Run = {
      ...claimed,
      status,
      exitCode: result.exitCode,
      signal: result.signal,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      reason: result.error ?? claimed.reason,
    };
    if (status === 'failed' || status === 'timed_out') this.emit(status, run);
    else if (status === 'succeeded' && this.wants('recovered')) this.track(this.checkRecovery(run));
  }

  private wants(event: NotifyEvent): boolean {
    const { webhooks, mail } = this.opts.channels;
    return [...webhooks, ...mail].some((c) => c.events.includes(event));
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Recovered: the schedule's previous run that says anything about its health had failed. */
  private async checkRecovery(run: Run): Promise<void> {
    const earlier = await this.opts.store.listRuns({ schedule: run.schedule, before: run.id, limit: 20 });
    const previous = earlier.find((r) => !NEUTRAL.has(r.status));
    if (previous && BAD.has(previous.status)) this.emit('recovered', run);
  }

  private async pollLost(): Promise<void> {
    const lease = await this.opts.store.acquireLease({ name: 'notifier.lost', holder: this.opts.node, ttlMs: 30_000, priority: 0, now: this.opts.clock.now() });
    const lost = await this.opts.store.listRuns({ status: ['lost'], limit: 200 });
    for (const r of lost) {
      if (this.seenLost.has(r.id)) continue;
      this.seenLost.add(r.id);
      // Only recent ids can show up again in the newest-first page; forget the oldest.
      if (this.seenLost.size > 5_000) this.seenLost.delete(this.seenLost.values().next().value!);
      if (lease.held) this.emit('lost', r);
    }
  }

  private emit(event: NotifyEvent, run: Run): void {
    const { webhooks, mail } = this.opts.channels;
    const n = notification(event, run, this.opts.node, this.opts.clock.now());
    const applies = (c: { events: NotifyEvent[]; schedules: string[] | null }) => c.events.includes(event) && (c.schedules === null || c.schedules.includes(run.schedule));
    const delivery = randomUUID();
    const sleep = (ms: number) => new Promise<void>((r) => this.opts.clock.setTimer(ms, r));
    for (const hook of webhooks.filter(applies)) {
      this.track(
        sendWebhook(hook, n, delivery, this.opts.backoffMs ?? 2_000, sleep).then((r) => {
          if (!r.ok) this.opts.log.warn({ url: hook.url, event, run: run.id, attempts: r.attempts, error: r.error }, 'webhook not delivered');
        }),
      );
    }
    for (const m of mail.filter(applies)) {
      this.track(sendMail(m, n).catch((err: unknown) => this.opts.log.warn({ to: m.to, event, run: run.id, err: (err as Error).message }, 'mail not sent')));
    }
  }
}
