import pg from 'pg';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * A dedicated connection LISTENing on one channel (LISTEN needs a session, so it cannot use a
 * pooled connection). When it drops it reconnects with growing delays, and calls `onWake` once
 * connected again, because notifications sent while it was away are lost.
 */
export class PgListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private timer: NodeJS.Timeout | null = null;
  private markReady: () => void = () => {};
  /** Resolves once the first LISTEN is in place. */
  readonly ready = new Promise<void>((resolve) => {
    this.markReady = resolve;
  });

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly onWake: () => void,
  ) {}

  start(): void {
    this.stopped = false;
    void this.connect(false);
  }

  private async connect(again: boolean): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.url });
    this.client = client;
    let dropped = false;
    const drop = (): void => {
      if (dropped) return;
      dropped = true;
      client.removeAllListeners('notification');
      void client.end().catch(() => {});
      if (this.client === client) this.client = null;
      if (!this.stopped) {
        this.timer = setTimeout(() => void this.connect(true), this.retryMs);
        this.timer.unref();
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      }
    };
    client.on('error', drop);
    client.on('end', drop);
    client.on('notification', (msg) => {
      if (msg.channel === this.channel) this.onWake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      this.retryMs = RETRY_MIN_MS;
      this.markReady();
      if (again) this.onWake();
    } catch {
      drop();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    if (c) {
      c.removeAllListeners();
      c.on('error', () => {});
      await c.end().catch(() => {});
    }
  }

  /** The current connection (tests end it to check reconnection). */
  get connection(): pg.Client | null {
    return this.client;
  }
}
