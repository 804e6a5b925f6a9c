import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTask } from '../../src/executor/run-task.js';
import type { HttpTask } from '../../src/executor/task.js';
import { waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cronfleet-http-'));
let base = '';
let hangingRequests = 0;
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    switch (req.url) {
      case '/ok':
        res.end('all good');
        return;
      case '/fail':
        res.writeHead(503).end('down for maintenance');
        return;
      case '/created':
        res.writeHead(201).end();
        return;
      case '/echo':
        res.end(`${req.method} ${req.headers['x-token'] ?? '-'} ${body}`);
        return;
      case '/big':
        res.end('x'.repeat(100_000));
        return;
      case '/hang':
        // Never answers: the task's timeout or cancel must end it.
        hangingRequests++;
        return;
      default:
        res.writeHead(404).end();
    }
  });
});

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function http(path: string, extra: Partial<HttpTask> = {}): HttpTask {
  return { kind: 'http', url: `${base}${path}`, method: 'GET', ...extra };
}

describe('http tasks', () => {
  it('succeeds on a 2xx status and keeps the body as stdout and in the log', async () => {
    const logPath = join(dir, 'a', 'ok.log');
    const h = startTask(http('/ok'), { logPath });
    expect(h.pid).toBeNull();
    const r = await h.done;
    expect(r).toMatchObject({ exitCode: 0, error: null, signal: null, timedOut: false, stdout: 'all good', stderr: '' });
    expect(readFileSync(logPath, 'utf8')).toBe('all good');
  });

  it('fails with exit code 1 on another status and says what was received and expected', async () => {
    const r = await startTask(http('/fail')).done;
    expect(r.exitCode).toBe(1);
    expect(r.error).toBeNull();
    expect(r.stdout).toBe('down for maintenance');
    expect(r.stderr).toBe(`HTTP 503 received from GET ${base}/fail; expected 200-299\n`);
  });

  it('uses the expect list instead of 2xx when given', async () => {
    expect((await startTask(http('/created', { expect: [201] })).done).exitCode).toBe(0);
    const r = await startTask(http('/ok', { expect: [201, 204] })).done;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/HTTP 200 received .*expected 201 or 204/);
  });

  it('sends the method, headers and body', async () => {
    const r = await startTask(http('/echo', { method: 'post', headers: { 'x-token': 's3cret' }, body: 'payload' })).done;
    expect(r.stdout).toBe('POST s3cret payload');
  });

  it('keeps only the first tailBytes of the body', async () => {
    const logPath = join(dir, 'big.log');
    const r = await startTask(http('/big'), { tailBytes: 1000, logPath }).done;
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('x'.repeat(1000));
    expect(readFileSync(logPath, 'utf8')).toBe('x'.repeat(1000));
  });

  it('times out a server that never answers', async () => {
    const before = hangingRequests;
    const r = await startTask(http('/hang', { timeoutMs: 60_000 }), { timeoutMs: 300 }).done;
    expect(hangingRequests).toBe(before + 1);
    expect(r).toMatchObject({ timedOut: true, exitCode: null, error: 'timed out after 300 ms' });
    expect(r.stderr).toMatch(/no complete response from GET .*\/hang within 300 ms/);
  });

  it('can be cancelled while waiting', async () => {
    const before = hangingRequests;
    const h = startTask(http('/hang'));
    await waitFor('the request to arrive', () => hangingRequests > before);
    h.cancel('shutting down');
    const r = await h.done;
    expect(r).toMatchObject({ cancelled: true, timedOut: false, exitCode: null });
  });

  it('reports a refused connection as an error without an exit code', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await startTask({ kind: 'http', url: `http://127.0.0.1:${port}/`, method: 'GET' }).done;
    expect(r.exitCode).toBeNull();
    expect(r.error).toMatch(/ECONNREFUSED/);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
  });

  it('reports a malformed URL as an error', async () => {
    const r = await startTask({ kind: 'http', url: 'not a url', method: 'GET' }).done;
    expect(r.exitCode).toBeNull();
    expect(r.error).toMatch(/GET not a url failed/);
  });
});
