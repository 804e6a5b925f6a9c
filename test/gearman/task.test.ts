import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTask } from '../../src/executor/run-task.js';
import { gearmanUnique } from '../../src/gearman/task.js';
import { GearmanWorker, type WorkerJob } from '../../src/gearman/worker.js';
import { startGearmand, type Gearmand } from '../helpers/gearmand.js';

let gd: Gearmand;
beforeAll(async () => {
  gd = await startGearmand();
});
afterAll(async () => {
  await gd?.stop();
});

describe('gearman unique ids for fires', () => {
  it('uses the minute for fires on a minute, full time otherwise, and marks retries', () => {
    expect(gearmanUnique('backup', { CRONFLEET_SCHEDULED_AT: '2026-11-23T10:05:00.000Z' })).toBe('backup@2026-11-23T10:05Z');
    expect(gearmanUnique('backup', { CRONFLEET_SCHEDULED_AT: '2026-11-23T10:05:30.000Z', CRONFLEET_ATTEMPT: '2' })).toBe(
      'backup@2026-11-23T10:05:30.000Z#2',
    );
    expect(gearmanUnique('backup', undefined)).toBeUndefined();
    const long = gearmanUnique('f'.repeat(60), { CRONFLEET_SCHEDULED_AT: '2026-11-23T10:05:00.000Z' })!;
    expect(long).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('the gearman task kind through startTask', () => {
  it('waits for the job and maps complete and fail to exit statuses', async () => {
    const jobs: WorkerJob[] = [];
    const worker = new GearmanWorker({
      servers: [gd],
      functions: ['kind_ok', 'kind_fail'],
      handler: async (job) => {
        jobs.push(job);
        return job.function === 'kind_ok' ? { status: 'complete', data: 'all good' } : { status: 'fail' };
      },
    });
    await worker.start();
    try {
      const env = { CRONFLEET_SCHEDULED_AT: '2026-11-23T10:05:00.000Z' };
      const ok = await startTask({ kind: 'gearman', function: 'kind_ok', servers: [gd], wait: true, timeoutMs: 20_000 }, { env }).done;
      expect(ok).toMatchObject({ exitCode: 0, error: null, stdout: 'all good', timedOut: false });
      expect(jobs[0]!.unique).toBe('kind_ok@2026-11-23T10:05Z');
      const bad = await startTask({ kind: 'gearman', function: 'kind_fail', servers: [gd], wait: true, timeoutMs: 20_000 }).done;
      expect(bad.exitCode).toBe(1);
      expect(bad.error).toMatch(/ended with fail/);
    } finally {
      await worker.stop();
    }
  });

  it('without wait, succeeds once the server has queued the job', async () => {
    const r = await startTask({ kind: 'gearman', function: 'kind_nobody', servers: [gd], wait: false }).done;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^queued H:\S+ on 127\.0\.0\.1:\d+/);
  });

  it('times out when no worker answers, and reports an unreachable fleet', async () => {
    const slow = await startTask({ kind: 'gearman', function: 'kind_nobody2', servers: [gd], wait: true, timeoutMs: 1_500 }).done;
    expect(slow.timedOut).toBe(true);
    expect(slow.exitCode).toBeNull();
    const down = await startTask({ kind: 'gearman', function: 'x', servers: [{ host: '127.0.0.1', port: 1 }], wait: false }).done;
    expect(down.error).toMatch(/no job server accepted x: 127\.0\.0\.1:1: cannot connect/);
  });

  it('cancel stops the wait', async () => {
    const h = startTask({ kind: 'gearman', function: 'kind_nobody3', servers: [gd], wait: true });
    h.cancel('operator asked');
    const r = await h.done;
    expect(r.cancelled).toBe(true);
    expect(r.error).toMatch(/cancelled: operator asked/);
  });
});
