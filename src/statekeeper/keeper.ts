import { performance } from 'node:perf_hooks';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Store } from '../store/store.js';
import { writeStateFile } from './state-file.js';

export interface StateKeeperOptions {
  store: Store;
  cluster: string;
  stateFile: string;
  node: string;
  priority: number;
  leaseMs: number;
  /** Timers; tests may pass their own. */
  clock?: Clock;
  /** Monotonic milliseconds: wall-clock jumps must not stretch a lease we think we hold. */
  monotonic?: () => number;
  /** One line per state change and per store problem. */
  log?: (line: string) => void;
  /** Lets tests and the CLI write elsewhere or observe writes. */
  write?: (path: string, state: 'active' | 'passive') => void;
}

/**
 * Keeps one cluster's state file right from a lease in the store: `active` on the holder,
 * `passive` everywhere else. The holder renews at a third of the lease time, others ask again
 * at a tenth, so a dead holder is replaced about one lease time after its last renewal.
 *
 * Safety rests on one rule: the file says `active` only while a lease confirmation is known
 * to be fresh, measured on this process's monotonic clock from the moment *before* the request
 * was sent. A watchdog writes `passive` when that confirmation runs out, and every wake-up
 * checks it first, so a process that was paused (SIGSTOP, swap storm, VM freeze) or cut off
 * from the store writes `passive` before it does anything else.
 */
export class StateKeeper {
  private readonly clock: Clock;
  private readonly monotonic: () => number;
  private readonly log: (line: string) => void;
  private readonly write: (path: string, state: 'active' | 'passive') => void;
  private readonly leaseName: string;
  /** Monotonic instant after which our last confirmation no longer proves we hold the lease. */
  private validUntil = -Infinity;
  private written: 'active' | 'passive' | null = null;
  private fence = 0;
  private stopped = false;
  private cancelTick: (() => void) | null = null;
  private cancelWatchdog: (() => void) | null = null;
  private ticking: Promise<void> | null = null;

  constructor(private readonly opts: StateKeeperOptions) {
    this.clock = opts.clock ?? systemClock;
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.write = opts.write ?? writeStateFile;
    this.leaseName = `rcron:${opts.cluster}`;
  }

  /** Margin kept off the lease so a confirmation is dropped a little before the store would expire it. */
  private get safetyMs(): number {
    return Math.min(1000, this.opts.leaseMs / 5);
  }

  private setState(state: 'active' | 'passive', why: string): void {
    if (this.written === state) return;
    this.write(this.opts.stateFile, state);
    this.written = state;
    this.log(`state-keeper: cluster=${this.opts.cluster} node=${this.opts.node} state=${state} fence=${this.fence} (${why})`);
  }

  /** The first thing on every wake-up: an expired confirmation turns the file passive. */
  private enforceExpiry(): void {
    if (this.written !== 'passive' && this.monotonic() >= this.validUntil) {
      this.setState('passive', this.written === 'active' ? 'lease not confirmed in time' : 'starting');
    }
  }

  start(): void {
    // A previous run may have left `active` behind: nothing is confirmed yet.
    this.enforceExpiry();
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancelTick?.();
    this.cancelTick = this.clock.setTimer(ms, () => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
      });
    });
  }

  private armWatchdog(): void {
    this.cancelWatchdog?.();
    const left = this.validUntil - this.monotonic();
    this.cancelWatchdog = this.clock.setTimer(Math.max(0, left), () => this.enforceExpiry());
  }

  private async tick(): Promise<void> {
    this.enforceExpiry();
    if (this.stopped) return;
    const sentAt = this.monotonic();
    try {
      const now = await this.opts.store.clockNow();
      const lease = await this.opts.store.acquireLease({
        name: this.leaseName,
        holder: this.opts.node,
        ttlMs: this.opts.leaseMs,
        priority: this.opts.priority,
        now,
      });
      this.enforceExpiry();
      if (this.stopped) return;
      if (lease.held) {
        const until = sentAt + this.opts.leaseMs - this.safetyMs;
        if (lease.fence !== this.fence) this.fence = lease.fence;
        if (this.monotonic() < until) {
          this.validUntil = until;
          this.armWatchdog();
          this.setState('active', `holds lease ${this.leaseName}`);
        } else {
          // The answer came back after the lease it grants would have run out: not proof.
          this.setState('passive', 'lease confirmation arrived too late');
        }
      } else {
        this.validUntil = -Infinity;
        this.setState('passive', `lease ${this.leaseName} held by ${lease.holder}`);
      }
    } catch (err) {
      this.log(`state-keeper: cluster=${this.opts.cluster} store error: ${(err as Error).message}`);
      this.enforceExpiry();
    }
    this.schedule(this.written === 'active' ? this.opts.leaseMs / 3 : this.opts.leaseMs / 10);
  }

  /** Writes passive and gives the lease up so another node takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    this.cancelWatchdog?.();
    await this.ticking?.catch(() => {});
    this.validUntil = -Infinity;
    this.setState('passive', 'stopping');
    try {
      await this.opts.store.releaseLease(this.leaseName, this.opts.node);
    } catch (err) {
      this.log(`state-keeper: cluster=${this.opts.cluster} could not release the lease: ${(err as Error).message}`);
    }
  }
}
