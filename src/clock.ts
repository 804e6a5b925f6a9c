/**
 * Time is injected, never read from globals inside logic: the scheduler, executor and
 * store calls take a Clock, and tests drive a ManualClock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    // setTimeout caps at 2^31-1 ms; longer waits are re-armed by the caller's next check.
    const t = setTimeout(fn, Math.min(Math.max(0, ms), 2_147_483_647));
    return () => clearTimeout(t);
  },
};

/** A clock shifted by `offsetMs` from another: how a node follows the store's clock. */
export class OffsetClock implements Clock {
  offsetMs = 0;
  constructor(private readonly base: Clock = systemClock) {}
  now(): number {
    return this.base.now() + this.offsetMs;
  }
  setTimer(ms: number, fn: () => void): () => void {
    return this.base.setTimer(ms, fn);
  }
}

interface PendingTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A clock that only moves when told to; timers fire in order as it advances. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: PendingTimer[] = [];
  constructor(start: number | Date = 0) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const timer: PendingTimer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }
  /** Timers still waiting. */
  get pending(): number {
    return this.timers.length;
  }
  /** Moves time to `to`, firing every timer due on the way, each at its own instant. */
  advanceTo(to: number | Date): void {
    const target = typeof to === 'number' ? to : to.getTime();
    for (;;) {
      const due = this.timers
        .filter((x) => x.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = Math.max(this.t, target);
  }
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }
}
