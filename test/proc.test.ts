import { describe, expect, it } from 'vitest';
import { processCpuTicks } from '../src/proc.js';

/** Microseconds of CPU this process has used since `start` (Node's own account). */
function cpuUsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return u.user + u.system;
}

describe('/proc readings', () => {
  it('reads the CPU time a process has used, in clock ticks, and null for one that is gone', () => {
    const before = processCpuTicks(process.pid)!;
    // 150 ms of this process's own CPU time, judged by Node's account of it.
    const start = process.cpuUsage();
    while (cpuUsSince(start) < 150_000) Math.sqrt(Math.random());
    const after = processCpuTicks(process.pid)!;
    const { user, system } = process.cpuUsage();
    expect(after - before).toBeGreaterThanOrEqual(14);
    // Never more than Node's own count (ticks of 10 ms), give or take a tick of rounding.
    expect(after).toBeLessThanOrEqual(Math.ceil((user + system) / 10_000) + 1);
    expect(processCpuTicks(2 ** 22 + 1)).toBeNull();
  });
});
