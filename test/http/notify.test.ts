import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signature } from '../../src/http/notify/channels.js';
import { waitFor } from '../helpers/wait.js';
import { call, startApiNode, type ApiNode } from './harness.js';

interface Hook {
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: any;
}

const SECRET = 'a-shared-secret-of-some-length';
let api: ApiNode;
let receiver: Server;
let smtp: TcpServer;
const hooks: Hook[] = [];
const mails: string[] = [];
let answered = 0;

/** A loopback SMTP server that accepts anything and keeps each message's DATA. */
function startSmtp(): Promise<number> {
  smtp = createTcpServer((sock) => {
    sock.write('220 test ESMTP\r\n');
    let buf = '';
    let inData = false;
    let msg = '';
    sock.on('data', (d) => {
      buf += d.toString();
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push(msg);
            msg = '';
            sock.write('250 OK queued\r\n');
          } else msg += `${line}\n`;
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 test\r\n');
        else if (verb === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') {
          sock.write('221 bye\r\n');
          sock.end();
        } else sock.write('250 OK\r\n');
      }
    });
  });
  return new Promise((r) => smtp.listen(0, '127.0.0.1', () => r((smtp.address() as { port: number }).port)));
}

beforeAll(async () => {
  // The first delivery is refused, so the retry path is exercised.
  receiver = createHttpServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      answered++;
      if (answered === 1) {
        res.writeHead(503).end();
        return;
      }
      hooks.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const hookPort = (receiver.address() as { port: number }).port;
  const smtpPort = await startSmtp();
  api = await startApiNode(
    `
schedules:
  - { name: flaky, cron: "0 0 1 1 *", task: flaky }
  - { name: quiet, cron: "0 0 1 1 *", task: fail }
  - { name: remote, cron: "0 0 1 1 *", task: ghostwork, remoteTask: true }
`,
    `
notifications:
  webhooks:
    - { url: "http://127.0.0.1:${hookPort}/hook", secret: "${SECRET}", schedules: [flaky, remote], retries: 2 }
  mail:
    - { smtp: "smtp://127.0.0.1:${smtpPort}", from: "cron@example.org", to: ["ops@example.org"], events: [failed] }
`,
  );
}, 60_000);

afterAll(async () => {
  await api?.stop();
  receiver?.close();
  smtp?.close();
});

describe('notifications', () => {
  it('posts a signed webhook on failure (retrying a refused delivery), mails it, and reports the recovery', async () => {
    // `flaky` fails the first time and succeeds after.
    const first = (await call(api.url, 'POST', '/api/v1/schedules/flaky/trigger', api.tokens.operator)).body.runs[0].id;
    const failed = await waitFor('the failure webhook', () => hooks.find((h) => h.body.event === 'failed'), 30_000);
    expect(answered).toBeGreaterThanOrEqual(2);
    expect(failed.headers['x-cronfleet-event']).toBe('failed');
    expect(failed.headers['x-cronfleet-signature']).toBe(signature(SECRET, failed.raw));
    expect(failed.body).toMatchObject({ schedule: 'flaky', node: 'api-test', run: { id: first, status: 'failed', exitCode: 1 } });
    expect(failed.body.summary).toBe(`flaky: run ${first} failed on node api-test (exit 1, attempt 1)`);

    const mail = await waitFor('the failure mail', () => mails.find((m) => m.includes(`run ${first} failed`)), 30_000);
    expect(mail).toMatch(/^Subject: \[cronfleet\] flaky: run \d+ failed/m);
    expect(mail).toMatch(/^To: ops@example\.org/m);

    const second = (await call(api.url, 'POST', '/api/v1/schedules/flaky/trigger', api.tokens.operator)).body.runs[0].id;
    const recovered = await waitFor('the recovery webhook', () => hooks.find((h) => h.body.event === 'recovered'), 30_000);
    expect(recovered.body).toMatchObject({ run: { id: second, status: 'succeeded' } });
    expect(recovered.body.summary).toMatch(/flaky recovered/);
    // A schedule outside the webhook's list sends none; the mail channel has no filter.
    const quiet = (await call(api.url, 'POST', '/api/v1/schedules/quiet/trigger', api.tokens.operator)).body.runs[0].id;
    await waitFor('the quiet failure mail', () => mails.find((m) => m.includes(`run ${quiet} failed`)), 30_000);
    expect(hooks.some((h) => h.body.schedule === 'quiet')).toBe(false);
  });

  it('reports a run lost by a node that stopped heartbeating', async () => {
    const store = api.node.store;
    const now = api.node.clock.now();
    await store.registerNode({ name: 'ghost', host: 'ghost', pid: 1, version: '0', tasks: ['ghostwork'], tags: [], startedAt: now }, now);
    const fire = await store.triggerSchedule('remote', { now, nodeTtlMs: 60_000, node: 'test' });
    expect(fire.runs[0]!.status).toBe('queued');
    const [claimed] = await store.claimRuns({ node: 'ghost', tasks: ['ghostwork'], tags: [], limit: 1, leaseMs: 1, now });
    expect(claimed?.id).toBe(fire.runs[0]!.id);
    await store.sweepLostRuns(now + 10, 60_000);
    const lost = await waitFor('the lost webhook', () => hooks.find((h) => h.body.event === 'lost'), 30_000);
    expect(lost.body).toMatchObject({ schedule: 'remote', run: { id: claimed!.id, status: 'lost', node: 'ghost' } });
  });
});
