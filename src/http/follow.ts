import type { FastifyReply } from 'fastify';
import { FINAL_STATUSES, type Run, type RunOutput } from '../store/types.js';
import type { ApiContext } from './context.js';
import { runJson } from './json.js';

/** How often a followed run's tails are read from the store while it runs. */
export const FOLLOW_POLL_MS = 250;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/**
 * What was appended to a tail since `prev`. The store keeps only the last 256 KiB, so once a
 * stream passes that the window slides: the end of `prev` is then found inside `next`. When it
 * cannot be found (more than a window written between two polls), null asks for a reset.
 */
export function tailDelta(prev: string, next: string): string | null {
  if (next.startsWith(prev)) return next.slice(prev.length);
  const probe = prev.slice(-1024);
  const at = probe === '' ? -1 : next.lastIndexOf(probe);
  return at < 0 ? null : next.slice(at + probe.length);
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Server-Sent Events for one run: `run` whenever its state changes, `output` with what each
 * stream gained (`reset` with the whole tail when the window slid past what was sent), and
 * `end` with the final status, after which the stream closes. The store is polled server-side,
 * so this works whichever node runs the task.
 */
export async function followRun(ctx: ApiContext, reply: FastifyReply, first: Run, pollMs = FOLLOW_POLL_MS): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // The response closes when the client goes away (or we end it); the poll loop stops then.
  let closed = false;
  res.on('close', () => (closed = true));
  const write = (text: string) => {
    if (!closed) res.write(text);
  };

  let sent: RunOutput = { stdout: '', stderr: '' };
  let lastState = '';
  let lastWrite = Date.now();
  let run: Run | null = first;
  try {
    while (!closed && run) {
      const state = `${run.status}|${run.node}|${run.cancelRequested}|${run.finishedAt}`;
      if (state !== lastState) {
        write(event('run', runJson(run)));
        lastState = state;
        lastWrite = Date.now();
      }
      const out = (await ctx.store.getRunOutput(run.id)) ?? { stdout: '', stderr: '' };
      for (const stream of ['stdout', 'stderr'] as const) {
        if (out[stream] === sent[stream]) continue;
        const delta = tailDelta(sent[stream], out[stream]);
        if (delta === null) write(event('reset', { stream, text: out[stream] }));
        else if (delta !== '') write(event('output', { stream, text: delta }));
        lastWrite = Date.now();
      }
      sent = out;
      if (FINAL_STATUSES.includes(run.status)) {
        write(event('end', { status: run.status, run: runJson(run) }));
        break;
      }
      if (Date.now() - lastWrite > KEEPALIVE_MS) {
        write(': keepalive\n\n');
        lastWrite = Date.now();
      }
      await new Promise((r) => setTimeout(r, pollMs));
      run = await ctx.store.getRun(run.id);
    }
  } catch (err) {
    ctx.log.warn({ err, run: first.id }, 'following a run failed');
    write(event('error', { code: 'CF_ERR_INTERNAL', message: 'reading the run from the store failed; see the node\'s log', field: null }));
  } finally {
    if (!res.writableEnded) res.end();
  }
}
