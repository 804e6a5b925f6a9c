import { describe, expect, test } from 'vitest';
import { ConfigError, ConflictError, NotFoundError } from '../../../src/errors.js';
import type { SuiteContext } from '../conformance.js';
import { T0, fireOpts, nodeInfo, plan, spec } from '../fixtures.js';

export function schedulesSuite(ctx: SuiteContext): void {
  describe('schedules', () => {
    test('sync adds new config schedules with the cursor at now', async () => {
      const r = await ctx.store.syncConfigSchedules([spec('b'), spec('a', { target: { kind: 'tag', tag: 'eu' }, timeoutMs: 5000 })], T0);
      expect(r).toEqual({ added: ['b', 'a'], updated: [], disabled: [] });
      const all = await ctx.store.listSchedules();
      expect(all.map((s) => s.name)).toEqual(['a', 'b']);
      expect(all[0]).toMatchObject({
        name: 'a',
        target: { kind: 'tag', tag: 'eu' },
        timeoutMs: 5000,
        enabled: true,
        paused: false,
        cursor: T0,
        createdAt: T0,
        updatedAt: T0,
        source: 'config',
      });
    });

    test('the schedules revision moves on every change but a cursor\'s, whoever makes it', async () => {
      const moves = async (what: () => Promise<unknown>): Promise<boolean> => {
        const before = await ctx.store.schedulesRevision();
        await what();
        return (await ctx.store.schedulesRevision()) !== before;
      };
      expect(await moves(() => ctx.store.syncConfigSchedules([spec('a'), spec('b')], T0))).toBe(true);
      expect(await moves(() => ctx.store.syncConfigSchedules([spec('a'), spec('b')], T0 + 1))).toBe(false);
      expect(await moves(() => ctx.store.syncConfigSchedules([spec('a', { expr: '*/5 * * * *' }), spec('b')], T0 + 2))).toBe(true);
      expect(await moves(() => ctx.store.syncConfigSchedules([spec('a', { expr: '*/5 * * * *' })], T0 + 3))).toBe(true);
      await ctx.store.registerNode(nodeInfo('n1', ['work']), T0);
      expect(await moves(() => ctx.store.createDueFires([plan('a', T0, [T0 + 60_000])], fireOpts(T0 + 60_000)))).toBe(false);
      expect((await ctx.store.getSchedule('a'))!.cursor).toBe(T0 + 60_000);
      expect(await moves(() => ctx.store.setPaused('a', true, T0 + 4))).toBe(true);
      expect(await moves(() => ctx.store.setPaused('a', false, T0 + 5))).toBe(true);
      expect(await moves(() => ctx.store.putApiSchedule({ ...spec('api'), name: 'api' }, T0 + 6))).toBe(true);
      expect(await moves(() => ctx.store.deleteApiSchedule('api'))).toBe(true);
    });

    test('sync updates changed schedules keeping the cursor, and disables removed ones', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('b'), spec('c')], T0);
      const r = await ctx.store.syncConfigSchedules([spec('a', { expr: '*/5 * * * *' }), spec('b')], T0 + 1000);
      expect(r).toEqual({ added: [], updated: ['a'], disabled: ['c'] });
      const a = await ctx.store.getSchedule('a');
      expect(a).toMatchObject({ expr: '*/5 * * * *', cursor: T0, updatedAt: T0 + 1000, createdAt: T0 });
      expect(await ctx.store.getSchedule('c')).toMatchObject({ enabled: false });
      // Unchanged input changes nothing.
      expect(await ctx.store.syncConfigSchedules([spec('a', { expr: '*/5 * * * *' }), spec('b')], T0 + 2000)).toEqual({
        added: [],
        updated: [],
        disabled: [],
      });
    });

    test('a schedule back in the config is re-enabled from now, not replayed', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      await ctx.store.syncConfigSchedules([], T0 + 1000);
      const r = await ctx.store.syncConfigSchedules([spec('a')], T0 + 5000);
      expect(r.updated).toEqual(['a']);
      expect(await ctx.store.getSchedule('a')).toMatchObject({ enabled: true, cursor: T0 + 5000 });
    });

    test('one sync updates many schedules at once, each with its own values and cursor', async () => {
      await ctx.store.syncConfigSchedules([spec('a'), spec('b'), spec('c')], T0);
      await ctx.store.registerNode(nodeInfo('n1', ['work']), T0);
      await ctx.store.createDueFires([plan('b', T0, [T0 + 60_000])], fireOpts(T0 + 60_000));
      await ctx.store.syncConfigSchedules([spec('a'), spec('b')], T0 + 1000);
      const r = await ctx.store.syncConfigSchedules(
        [
          spec('a', { expr: '*/5 * * * *', timezone: 'Europe/Paris', target: { kind: 'tag', tag: 'eu' }, timeoutMs: null, jitterMs: 1500 }),
          spec('b', { concurrency: 'forbid', retries: { max: 2, backoffMs: 30_000 }, timeoutMs: 7000 }),
          spec('c'),
        ],
        T0 + 5000,
      );
      expect(r).toEqual({ added: [], updated: ['a', 'b', 'c'], disabled: [] });
      expect(await ctx.store.getSchedule('a')).toMatchObject({
        expr: '*/5 * * * *',
        timezone: 'Europe/Paris',
        target: { kind: 'tag', tag: 'eu' },
        timeoutMs: null,
        jitterMs: 1500,
        cursor: T0,
        updatedAt: T0 + 5000,
      });
      expect(await ctx.store.getSchedule('b')).toMatchObject({ concurrency: 'forbid', retries: { max: 2, backoffMs: 30_000 }, timeoutMs: 7000, cursor: T0 + 60_000 });
      // c was disabled: back in the config, it starts from now.
      expect(await ctx.store.getSchedule('c')).toMatchObject({ enabled: true, cursor: T0 + 5000 });
    });

    test('sync leaves API schedules alone and refuses a config schedule with an API name', async () => {
      await ctx.store.putApiSchedule(spec('api', { source: 'api' }), T0);
      expect(await ctx.store.syncConfigSchedules([spec('a')], T0)).toEqual({ added: ['a'], updated: [], disabled: [] });
      expect((await ctx.store.getSchedule('api'))?.enabled).toBe(true);
      await expect(ctx.store.syncConfigSchedules([spec('api')], T0)).rejects.toThrow(ConflictError);
      await expect(ctx.store.syncConfigSchedules([spec('x'), spec('x')], T0)).rejects.toThrow(ConfigError);
    });

    test('putApiSchedule creates, then replaces keeping the cursor; config names are refused', async () => {
      const created = await ctx.store.putApiSchedule(spec('api', { source: 'api' }), T0);
      expect(created).toMatchObject({ source: 'api', cursor: T0, enabled: true });
      const replaced = await ctx.store.putApiSchedule(spec('api', { source: 'api', task: 'other' }), T0 + 500);
      expect(replaced).toMatchObject({ task: 'other', cursor: T0, createdAt: T0, updatedAt: T0 + 500 });
      await ctx.store.syncConfigSchedules([spec('cfg')], T0);
      const err = await ctx.store.putApiSchedule(spec('cfg', { source: 'api' }), T0).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).code).toBe('CF_ERR_CONFLICT');
    });

    test('deleteApiSchedule removes API schedules only', async () => {
      await ctx.store.putApiSchedule(spec('api', { source: 'api' }), T0);
      await ctx.store.syncConfigSchedules([spec('cfg')], T0);
      await ctx.store.deleteApiSchedule('api');
      expect(await ctx.store.getSchedule('api')).toBeNull();
      await expect(ctx.store.deleteApiSchedule('api')).rejects.toThrow(NotFoundError);
      await expect(ctx.store.deleteApiSchedule('cfg')).rejects.toThrow(ConflictError);
    });

    test('pausing keeps the cursor; resuming moves it to now', async () => {
      await ctx.store.syncConfigSchedules([spec('a')], T0);
      expect(await ctx.store.setPaused('a', true, T0 + 1000)).toMatchObject({ paused: true, cursor: T0 });
      expect(await ctx.store.setPaused('a', false, T0 + 9000)).toMatchObject({ paused: false, cursor: T0 + 9000 });
      // Resuming a schedule that is not paused does not move its cursor.
      expect(await ctx.store.setPaused('a', false, T0 + 20_000)).toMatchObject({ cursor: T0 + 9000 });
      await expect(ctx.store.setPaused('nope', true, T0)).rejects.toThrow(NotFoundError);
    });
  });
}
