import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.js';
import { newToken } from '../../src/http/auth.js';
import { silentLogger } from '../../src/log/logger.js';
import { startNode, type RunningNode } from '../../src/node/node.js';
import type { Store } from '../../src/store/store.js';
import type { Role } from '../../src/store/types.js';

export interface ApiNode {
  node: RunningNode;
  url: string;
  dir: string;
  tokens: Record<Role, string>;
  stop(): Promise<void>;
}

/** Tasks and schedules every HTTP test node has; `slow` prints a line every 300 ms. */
export const BASE_TASKS = `
tasks:
  hello: { command: [sh, -c, 'echo hello; echo oops >&2'] }
  slow: { command: [sh, -c, 'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.3; done'] }
  nap: { command: [sleep, '30'] }
  fail: { command: [sh, -c, 'echo broken >&2; exit 3'] }
  flaky: { command: [sh, -c, 'test -f flaky-ran && exit 0; touch flaky-ran; exit 1'], cwd: . }
  gate: { command: [sh, -c, 'echo line 1; echo line 2; while [ ! -f gate-open ]; do sleep 0.1; done; echo line 3'], cwd: . }
`;

export async function mintTokens(store: Store, now: number): Promise<Record<Role, string>> {
  const out = {} as Record<Role, string>;
  for (const role of ['viewer', 'operator', 'admin'] as const) {
    const { token, hash } = newToken();
    await store.createToken({ name: `test-${role}`, role, hash, now });
    out[role] = token;
  }
  return out;
}

/** A real node on a temp SQLite store, serving HTTP on a free loopback port, with one token per role. */
export async function startApiNode(schedules: string, extra = '', opts: { store?: Store; metrics?: 'open' | 'token' } = {}): Promise<ApiNode> {
  const dir = mkdtempSync(join(tmpdir(), 'cf-http-'));
  const cfg = parseConfigText(
    `node: { name: api-test, tags: [eu] }
store: sqlite:./cf.db
timezone: Europe/Paris
http: { listen: "127.0.0.1:0", bodyLimit: 4096, metrics: ${opts.metrics ?? 'open'} }
executor: { heartbeat: 300ms, lease: 5s, poll: 1s, killGrace: 500ms, shutdownGrace: 1s }
${BASE_TASKS}
${schedules}
${extra}`,
    join(dir, 'cronfleet.yaml'),
  );
  const node = await startNode(cfg, { log: silentLogger(), ...(opts.store && { store: opts.store }) });
  const tokens = await mintTokens(node.store, node.clock.now());
  return {
    node,
    url: node.http!.url,
    dir,
    tokens,
    async stop() {
      await node.stop(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Res {
  status: number;
  body: any;
  headers: Headers;
  text: string;
}

/** One request over real HTTP; `token` null sends none. */
export async function call(base: string, method: string, path: string, token: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const h: Record<string, string> = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, { method, headers: h, ...(payload !== undefined && { body: payload }) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, headers: res.headers, text };
}
