import type { Clock } from './clock.js';

export interface Repeating {
  /** Stops re-arming and waits for a run under way. */
  stop(): Promise<void>;
}

/**
 * Runs `fn` every `everyMs` (first after `firstMs`, default the same), never two at once: the
 * next run is armed when the previous one settles. A failure goes to `onError` and never stops
 * the repetition. Heartbeats, polls, refreshes and pruning all run this way.
 */
export function repeat(clock: Clock, everyMs: number, fn: () => Promise<unknown>, onError: (err: unknown) => void, firstMs = everyMs): Repeating {
  let stopped = false;
  let cancel: () => void = () => {};
  let running: Promise<void> | null = null;
  const tick = () => {
    running = fn()
      .then(() => undefined, onError)
      .finally(() => {
        running = null;
        if (!stopped) cancel = clock.setTimer(everyMs, tick);
      });
  };
  cancel = clock.setTimer(firstMs, tick);
  return {
    async stop() {
      stopped = true;
      cancel();
      await running;
    },
  };
}
