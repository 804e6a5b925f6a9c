import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { startApiNode, type ApiNode } from './harness.js';

const SHOTS = 'test-results/ui';
let api: ApiNode;
let browser: Browser;
let page: Page;
const foreign: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  api = await startApiNode(`
schedules:
  - { name: ticker, every: 2s, task: hello }
  - { name: slow-job, cron: "0 0 1 1 *", task: gate, timezone: Asia/Tokyo }
`);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // The UI must need nothing but its own node.
  page.on('request', (req) => {
    if (!req.url().startsWith(api.url) && !req.url().startsWith('blob:') && !req.url().startsWith('data:')) foreign.push(req.url());
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.stop();
});

describe('web UI in Chromium', () => {
  it('signs in with a token, refusing a bad one', async () => {
    await page.goto(api.url + '/');
    await page.waitForSelector('#login');
    await page.fill('#token', 'cf_wrong');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-error')?.textContent?.includes('unknown or revoked'));
    await page.fill('#token', api.tokens.operator);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#timeline');
    expect(await page.textContent('#who')).toBe('test-operator (operator) on api-test');
    // The token is kept for the session: a reload does not ask again.
    await page.reload();
    await page.waitForSelector('#timeline');
  });

  it('shows the next hour on the dashboard and a schedule firing', async () => {
    await page.waitForSelector('#timeline .tl-row[data-schedule="ticker"] .tl-fire');
    expect(await page.locator('#timeline .tl-row[data-schedule="ticker"] .tl-fire').count()).toBeGreaterThan(100);
    // A fire of `ticker` shows up among recent runs without reloading (the dashboard refreshes itself).
    await page.waitForSelector('#recent .strip a.succeeded', { timeout: 30_000 });
    await page.waitForSelector('#recent td:has-text("ticker")');
    await page.waitForSelector('#node-health li[data-node="api-test"] .dot.alive');
    await page.screenshot({ path: `${SHOTS}/dashboard.png`, fullPage: true });
  });

  it('runs a schedule now and streams its output while it runs', async () => {
    await page.goto(`${api.url}/#/schedules/slow-job`);
    await page.waitForSelector('#next tbody tr');
    expect(await page.locator('#next tbody tr').count()).toBe(5);
    // Both zones are shown: the schedule's (JST, New Year at midnight) and the viewer's.
    expect(await page.textContent('#next thead')).toContain('Asia/Tokyo');
    expect(await page.textContent('#next tbody tr:first-child td:first-child')).toMatch(/01\/01|1\/1|01-01/);

    await page.click('#run-now');
    await page.waitForURL(/#\/runs\/\d+$/);
    const id = Number(/#\/runs\/(\d+)$/.exec(page.url())![1]);
    // The task prints two lines, then waits for the test to open its gate: the output must show
    // on the page while the run is still going.
    await page.waitForFunction(() => document.querySelector('#output')?.textContent?.includes('line 2'), undefined, { timeout: 30_000 });
    expect(await page.textContent('#output')).toBe('line 1\nline 2\n');
    expect((await api.node.store.getRun(id))?.status).toBe('running');
    expect(await page.textContent('#live')).toBe('live');
    await page.screenshot({ path: `${SHOTS}/run-streaming.png`, fullPage: true });
    writeFileSync(join(api.dir, 'gate-open'), '');

    await page.waitForFunction(() => document.querySelector('h1 .status')?.getAttribute('data-status') === 'succeeded', undefined, { timeout: 30_000 });
    expect(await page.textContent('#output')).toBe('line 1\nline 2\nline 3\n');
    expect(await page.textContent('#meta')).toContain('yes (run now)');
    expect(await page.isHidden('#cancel')).toBe(true);
    await page.screenshot({ path: `${SHOTS}/run-done.png`, fullPage: true });
  });

  it('pauses a schedule from its page', async () => {
    await page.goto(`${api.url}/#/schedules/ticker`);
    await page.waitForSelector('#history tr[data-run]');
    await page.click('#pause');
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === '(paused)');
    expect((await api.node.store.getSchedule('ticker'))?.paused).toBe(true);
    expect(await page.textContent('#pause')).toBe('Resume');
    await page.screenshot({ path: `${SHOTS}/schedule-paused.png`, fullPage: true });
    const audit = await api.node.store.listAudit({ limit: 10 });
    expect(audit.map((e) => [e.action, e.actor])).toContainEqual(['schedule.pause', 'test-operator']);
  });

  it('lists nodes, and fits a phone-sized screen', async () => {
    await page.goto(`${api.url}/#/nodes`);
    await page.waitForSelector('#nodes tr[data-node="api-test"]');
    expect(await page.textContent('#nodes tr[data-node="api-test"]')).toContain('alive');

    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of ['#/', '#/nodes', '#/schedules/slow-job']) {
      await page.goto(`${api.url}/${hash}`);
      await page.waitForSelector('main h1');
      await page.waitForFunction(() => !document.querySelector('main')?.textContent?.includes('Loading'));
      // Nothing wider than the screen: the page itself never scrolls sideways.
      expect(await page.evaluate(() => document.documentElement.scrollWidth), hash).toBeLessThanOrEqual(390);
    }
    await page.goto(`${api.url}/#/`);
    await page.waitForSelector('#timeline');
    await page.screenshot({ path: `${SHOTS}/phone-dashboard.png`, fullPage: true });
    expect(foreign).toEqual([]);
  });
});
