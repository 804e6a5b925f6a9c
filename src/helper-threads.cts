/**
 * V8's helper threads (optimizing compiler, concurrent GC) at the lowest CPU priority.
 *
 * Measured with `perf sched` on a 2-vCPU machine running gearmand, a worker and a client: a
 * TurboFan compile or a concurrent-marking task on a helper thread held a CPU for 1-4 ms, and
 * the job server's thread woken on that CPU waited behind it, so a job started 1-2 ms late.
 * V8 keeps compiling hot paths for the first ten thousand or so jobs of a process: at cron
 * rates, for days. At nice 19 that work still runs, on otherwise idle CPU time, and yields to
 * the processes that start jobs. In bench/gearman (3 rounds after a 10,000-job warm-up), our
 * p99 submit→start was 0.50 and 0.69 ms without it, 0.30 and 0.47 ms with it.
 *
 * Call it first thing in a process, before any asynchronous file or DNS call: at that point
 * every thread but the main one is V8's. The libuv thread pool, started later from the main
 * thread, keeps the main thread's priority, so file writes of run output are not slowed.
 * That is why this module is CommonJS (`.cts`): an ES module entry is itself read through the
 * thread pool, which is then already running when its first line runs, while `bin/cronfleet.js`
 * (CommonJS) can require this before it imports the rest.
 */
import fs = require('node:fs');
import os = require('node:os');

const HELPER_NICE = 19;

/**
 * Sets every thread of this process except the main one to `nice`. Returns how many it
 * lowered; 0 where threads cannot be listed (no /proc) or their priority cannot be set.
 */
function lowerHelperThreadPriority(nice = HELPER_NICE): number {
  let tids: number[];
  try {
    tids = fs.readdirSync('/proc/self/task').map(Number);
  } catch {
    return 0;
  }
  let lowered = 0;
  for (const tid of tids) {
    if (tid === process.pid) continue;
    try {
      // On Linux a thread id is a valid target of setpriority(PRIO_PROCESS), and the nice
      // value is per thread.
      os.setPriority(tid, nice);
      lowered++;
    } catch {
      // The thread ended since the listing, or priorities are not ours to change here.
    }
  }
  return lowered;
}

export = { lowerHelperThreadPriority };
