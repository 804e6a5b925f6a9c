import { createHmac } from 'node:crypto';
import type { Notification } from './message.js';

export interface Webhook {
  url: string;
  secret: string | null;
  retries: number;
}

/** HMAC-SHA256 of the exact body bytes, so a receiver can check the sender knows the secret. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs the notification as JSON. A network error or a non-2xx answer is retried after
 * backoff, backoff × 2, ...; the same delivery id is sent each time so a receiver can drop repeats.
 */
export async function sendWebhook(hook: Webhook, n: Notification, delivery: string, backoffMs: number, sleep: (ms: number) => Promise<void>): Promise<{ ok: boolean; attempts: number; error: string | null }> {
  const body = JSON.stringify(n);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'cronfleet',
    'x-cronfleet-event': n.event,
    'x-cronfleet-delivery': delivery,
  };
  if (hook.secret) headers['x-cronfleet-signature'] = signature(hook.secret, body);
  let error: string | null = null;
  for (let attempt = 1; attempt <= hook.retries + 1; attempt++) {
    try {
      const res = await fetch(hook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: attempt, error: null };
      error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message;
    }
    if (attempt <= hook.retries) await sleep(backoffMs * 2 ** (attempt - 1));
  }
  return { ok: false, attempts: hook.retries + 1, error };
}

export interface Mail {
  smtp: string;
  from: string;
  to: string[];
}

export async function sendMail(mail: Mail, n: Notification): Promise<void> {
  // Loaded at the first mail: a node that sends none is spared nodemailer's ~5 MB.
  const nodemailer = await import('nodemailer');
  const transport = nodemailer.createTransport(mail.smtp);
  try {
    const r = n.run;
    await transport.sendMail({
      from: mail.from,
      to: mail.to,
      subject: `[cronfleet] ${n.summary}`,
      text: [
        n.summary,
        '',
        `schedule:  ${r.schedule}`,
        `task:      ${r.task}`,
        `run:       ${r.id} (attempt ${r.attempt})`,
        `status:    ${r.status}`,
        `node:      ${r.node ?? '-'}`,
        `scheduled: ${r.scheduledAt}`,
        `finished:  ${r.finishedAt ?? '-'}`,
        `exit:      ${r.signal ?? r.exitCode ?? '-'}`,
        `reason:    ${r.reason ?? '-'}`,
        '',
        `sent by node ${n.node} at ${n.at}`,
      ].join('\n'),
    });
  } finally {
    transport.close();
  }
}
