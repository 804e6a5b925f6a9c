/**
 * Gearman worker: registers its functions with every job server, grabs with GRAB_JOB_UNIQ,
 * sleeps with PRE_SLEEP until NOOP, runs up to `concurrency` jobs at once across all servers,
 * and reconnects with backoff to a server that went away while serving the others.
 */
import { GearmanConnection, serverKey, type ServerAddress } from './connection.js';
import { arg, argText, type Packet } from './protocol.js';

export interface WorkerJob {
  handle: string;
  function: string;
  unique: string;
  data: Buffer;
  server: ServerAddress;
}

export type WorkOutcome =
  | { status: 'complete'; data?: Buffer | string }
  | { status: 'fail' }
  | { status: 'exception'; data: Buffer | string };

export type JobHandler = (job: WorkerJob) => Promise<WorkOutcome>;

export interface FunctionSpec {
  name: string;
  /** Registered with CAN_DO_TIMEOUT: gearmand requeues the job after this many ms (minimum 1000). */
  timeoutMs?: number;
}

export type WorkerEvent =
  | { type: 'connected'; server: string }
  | { type: 'disconnected'; server: string; error: string | undefined; retryInMs: number }
  | { type: 'job-start'; job: WorkerJob }
  | { type: 'job-end'; job: WorkerJob; outcome: WorkOutcome; reported: boolean };

export interface WorkerOptions {
  servers: ServerAddress[];
  functions: Array<string | FunctionSpec>;
  handler: JobHandler;
  /** Jobs run at once across all servers. */
  concurrency?: number;
  clientId?: string;
  connectTimeoutMs?: number;
  /** Reconnect delay starts here and doubles up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onEvent?: (e: WorkerEvent) => void;
}

class Link {
  conn: GearmanConnection | null = null;
  /** A GRAB_JOB_UNIQ is in flight: it holds one slot until NO_JOB or an assignment answers it. */
  grabbing = false;
  sleeping = false;
  backoffMs: number;
  retry: NodeJS.Timeout | null = null;
  constructor(
    readonly server: ServerAddress,
    backoffMs: number,
  ) {
    this.backoffMs = backoffMs;
  }
}

export class GearmanWorker {
  private readonly links: Link[];
  private readonly functions: FunctionSpec[];
  private readonly concurrency: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private running = 0;
  private reserved = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: WorkerOptions) {
    this.functions = opts.functions.map((f) => (typeof f === 'string' ? { name: f } : f));
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.minBackoffMs = opts.minBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.links = opts.servers.map((s) => new Link(s, this.minBackoffMs));
  }

  /** Connects to every server; resolves once each has been tried (reachable or not). */
  async start(): Promise<void> {
    await Promise.all(this.links.map((l) => this.connect(l)));
  }

  get activeJobs(): number {
    return this.running;
  }

  /** Servers currently connected. */
  get connectedServers(): string[] {
    return this.links.filter((l) => l.conn?.isOpen).map((l) => serverKey(l.server));
  }

  /** Stops grabbing, waits for running jobs to report, then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const l of this.links) if (l.retry) clearTimeout(l.retry);
    // An unanswered grab may still bring a job; it must run and report before we close, or the
    // server would requeue a job this worker is already running.
    if (this.running + this.reserved > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    for (const l of this.links) l.conn?.close();
  }

  private async connect(link: Link): Promise<void> {
    link.retry = null;
    if (this.stopping) return;
    let conn: GearmanConnection | undefined;
    try {
      conn = await GearmanConnection.connect(
        link.server,
        { onPacket: (p) => this.onPacket(link, p), onClose: (err) => this.onClose(link, conn, err) },
        this.opts.connectTimeoutMs ?? 2_000,
      );
    } catch (err) {
      this.scheduleReconnect(link, (err as Error).message);
      return;
    }
    if (this.stopping) {
      conn.close();
      return;
    }
    link.conn = conn;
    link.backoffMs = this.minBackoffMs;
    link.grabbing = false;
    link.sleeping = false;
    conn.batch(() => {
      if (this.opts.clientId) conn.send('SET_CLIENT_ID', [this.opts.clientId]);
      for (const f of this.functions) {
        if (f.timeoutMs) conn.send('CAN_DO_TIMEOUT', [f.name, String(f.timeoutMs)]);
        else conn.send('CAN_DO', [f.name]);
      }
    });
    this.opts.onEvent?.({ type: 'connected', server: conn.key });
    this.grab(link);
  }

  private scheduleReconnect(link: Link, error: string | undefined): void {
    if (this.stopping) return;
    const delay = link.backoffMs;
    link.backoffMs = Math.min(this.maxBackoffMs, link.backoffMs * 2);
    this.opts.onEvent?.({ type: 'disconnected', server: serverKey(link.server), error, retryInMs: delay });
    link.retry = setTimeout(() => void this.connect(link), delay);
  }

  private onClose(link: Link, conn: GearmanConnection | undefined, err: Error | undefined): void {
    if (link.conn !== conn) return;
    link.conn = null;
    this.release(link);
    link.sleeping = false;
    this.scheduleReconnect(link, err?.message);
  }

  private grab(link: Link): void {
    if (this.stopping || !link.conn?.isOpen || link.grabbing || link.sleeping) return;
    if (this.running + this.reserved >= this.concurrency) return;
    link.grabbing = true;
    this.reserved++;
    link.conn.send('GRAB_JOB_UNIQ');
  }

  private grabAll(): void {
    for (const l of this.links) this.grab(l);
  }

  private onPacket(link: Link, p: Packet): void {
    switch (p.name) {
      case 'NOOP':
        link.sleeping = false;
        this.grab(link);
        return;
      case 'NO_JOB':
        this.release(link);
        link.sleeping = true;
        link.conn?.send('PRE_SLEEP');
        return;
      case 'JOB_ASSIGN_UNIQ':
        this.running++;
        this.release(link);
        void this.run(link, {
          handle: argText(p, 'handle'),
          function: argText(p, 'function'),
          unique: argText(p, 'unique'),
          data: arg(p, 'data'),
          server: link.server,
        });
        this.grab(link);
        return;
      default:
        // ERROR after a grab (e.g. a server that dislikes GRAB_JOB_UNIQ) must not wedge the slot.
        if (p.name === 'ERROR' && link.grabbing) {
          this.release(link);
          link.sleeping = true;
          link.conn?.send('PRE_SLEEP');
        }
        return;
    }
  }

  private release(link: Link): void {
    if (link.grabbing) {
      link.grabbing = false;
      this.reserved--;
      this.notifyIdle();
    }
  }

  private notifyIdle(): void {
    if (this.running + this.reserved === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async run(link: Link, job: WorkerJob): Promise<void> {
    const conn = link.conn;
    this.opts.onEvent?.({ type: 'job-start', job });
    let outcome: WorkOutcome;
    try {
      outcome = await this.opts.handler(job);
    } catch (err) {
      outcome = { status: 'exception', data: err instanceof Error ? err.message : String(err) };
    }
    this.running--;
    // The result only means something on the connection that assigned the job: after a
    // reconnect the server has already requeued it.
    const reported = conn && link.conn === conn ? conn.batch(() => this.report(link, conn, job, outcome)) : false;
    this.opts.onEvent?.({ type: 'job-end', job, outcome, reported });
    this.notifyIdle();
    this.grabAll();
  }

  /**
   * Sends the job's result, then the grab for the slot it frees on the same server: called
   * inside a batch, both leave in one write and gearmand answers the grab from the same read.
   */
  private report(link: Link, conn: GearmanConnection, job: WorkerJob, outcome: WorkOutcome): boolean {
    let sent: boolean;
    if (outcome.status === 'complete') sent = conn.send('WORK_COMPLETE', [job.handle, outcome.data ?? '']);
    else if (outcome.status === 'fail') sent = conn.send('WORK_FAIL', [job.handle]);
    else sent = conn.send('WORK_EXCEPTION', [job.handle, outcome.data]);
    this.grab(link);
    return sent;
  }
}
