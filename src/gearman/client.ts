/**
 * Gearman client: background and foreground submits with unique ids, status queries, several
 * job servers. A job with a unique id goes to the server Perl's Gearman::Client picks for it,
 * so jobs from our clients and theirs coalesce on one server; unlike Perl, when that server is
 * down we fail over to the next one in the list.
 */
import { crc32 } from 'node:zlib';
import { GearmanConnection, GearmanError, serverKey, type ServerAddress } from './connection.js';
import { argText, arg, type Packet, type PacketTypeName } from './protocol.js';

export type Priority = 'normal' | 'high' | 'low';

export interface SubmitOptions {
  unique?: string;
  priority?: Priority;
}

export interface ForegroundOptions extends SubmitOptions {
  /** How long to wait for the job's result; absent: the client's jobTimeoutMs. */
  timeoutMs?: number;
}

export interface Submitted {
  handle: string;
  server: ServerAddress;
}

export type JobOutcome =
  | { status: 'complete'; data: Buffer }
  | { status: 'fail' }
  | { status: 'exception'; data: Buffer };

export interface JobResult extends Submitted {
  outcome: JobOutcome;
  /** WORK_DATA and WORK_WARNING chunks seen before the end. */
  data: Buffer[];
  warnings: Buffer[];
}

export interface JobStatus {
  known: boolean;
  running: boolean;
  numerator: number;
  denominator: number;
}

export interface ClientOptions {
  servers: ServerAddress[];
  connectTimeoutMs?: number;
  /** Wait for JOB_CREATED / STATUS_RES / ECHO_RES. */
  requestTimeoutMs?: number;
  /** Default wait for a foreground job's result; null: forever. */
  jobTimeoutMs?: number | null;
}

/** Longest unique id gearmand 1.1.20 accepts: 65 bytes get ERROR ARGUMENT_TOO_LARGE (measured). */
export const MAX_UNIQUE_BYTES = 64;

/**
 * Index of the server Perl's Gearman::Client uses for a unique id: Gearman::Task::hash is
 * `(crc32(uniq) >> 16) & 0x7fff` and Taskset::_get_hashed_sock takes it modulo the count, in the
 * order the servers were configured.
 */
export function perlServerIndex(unique: string, serverCount: number): number {
  return ((crc32(Buffer.from(unique, 'utf8')) >>> 16) & 0x7fff) % serverCount;
}

const SUBMIT_TYPE: Record<Priority, { fg: PacketTypeName; bg: PacketTypeName }> = {
  normal: { fg: 'SUBMIT_JOB', bg: 'SUBMIT_JOB_BG' },
  high: { fg: 'SUBMIT_JOB_HIGH', bg: 'SUBMIT_JOB_HIGH_BG' },
  low: { fg: 'SUBMIT_JOB_LOW', bg: 'SUBMIT_JOB_LOW_BG' },
};

interface Waiter {
  /** Which answer ends the wait: responses arrive in request order on one connection. */
  expects: PacketTypeName;
  resolve(p: Packet): void;
  reject(err: Error): void;
}

interface ForegroundJob {
  data: Buffer[];
  warnings: Buffer[];
  resolve(o: JobOutcome, data: Buffer[], warnings: Buffer[]): void;
  reject(err: Error): void;
}

class ServerLink {
  conn: GearmanConnection | null = null;
  connecting: Promise<GearmanConnection> | null = null;
  waiters: Waiter[] = [];
  jobs = new Map<string, ForegroundJob[]>();
}

export class GearmanClient {
  readonly servers: ServerAddress[];
  private readonly links: ServerLink[];
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly jobTimeoutMs: number | null;
  private rr = Math.floor(Math.random() * 1024);
  private closed = false;

  constructor(opts: ClientOptions) {
    if (opts.servers.length === 0) throw new GearmanError('no job servers configured: expected at least one {host, port}');
    this.servers = opts.servers;
    this.links = opts.servers.map(() => new ServerLink());
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5_000;
    this.jobTimeoutMs = opts.jobTimeoutMs === undefined ? null : opts.jobTimeoutMs;
  }

  /** Order in which servers are tried for a job: Perl's choice first, then the rest in turn. */
  serverOrder(unique: string | undefined): number[] {
    const n = this.servers.length;
    if (n === 1) return [0];
    const first = unique ? perlServerIndex(unique, n) : this.rr++ % n;
    const order: number[] = [];
    for (let i = 0; i < n; i++) order.push((first + i) % n);
    return order;
  }

  async submitBackground(fn: string, data: Buffer | string = '', opts: SubmitOptions = {}): Promise<Submitted> {
    const { idx, packet } = await this.submitAnywhere(SUBMIT_TYPE[opts.priority ?? 'normal'].bg, fn, data, opts.unique, null);
    return { handle: argText(packet, 'handle'), server: this.servers[idx]! };
  }

  async submit(fn: string, data: Buffer | string = '', opts: ForegroundOptions = {}): Promise<JobResult> {
    let job!: ForegroundJob;
    const finished = new Promise<{ outcome: JobOutcome; data: Buffer[]; warnings: Buffer[] }>((resolve, reject) => {
      job = { data: [], warnings: [], resolve: (outcome, d, w) => resolve({ outcome, data: d, warnings: w }), reject };
    });
    const { idx, packet } = await this.submitAnywhere(SUBMIT_TYPE[opts.priority ?? 'normal'].fg, fn, data, opts.unique, job);
    const handle = argText(packet, 'handle');
    const timeoutMs = opts.timeoutMs ?? this.jobTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout =
      timeoutMs === null
        ? null
        : new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              this.dropJob(idx, handle, job);
              reject(new GearmanError(`job ${handle} (${fn}) gave no result within ${timeoutMs} ms`, serverKey(this.servers[idx]!)));
            }, timeoutMs);
          });
    try {
      const r = await (timeout ? Promise.race([finished, timeout]) : finished);
      return { handle, server: this.servers[idx]!, ...r };
    } finally {
      clearTimeout(timer);
    }
  }

  /** GET_STATUS on the server that created the job. */
  async getStatus(submitted: Submitted): Promise<JobStatus> {
    const idx = this.indexOf(submitted.server);
    const p = await this.request(idx, 'GET_STATUS', [submitted.handle], 'STATUS_RES');
    return {
      known: argText(p, 'known') === '1',
      running: argText(p, 'running') === '1',
      numerator: Number(argText(p, 'numerator')) || 0,
      denominator: Number(argText(p, 'denominator')) || 0,
    };
  }

  /** ECHO round trip to one server: a liveness probe. */
  async echo(server: ServerAddress, data: Buffer | string = 'ping'): Promise<Buffer> {
    const p = await this.request(this.indexOf(server), 'ECHO_REQ', [data], 'ECHO_RES');
    return arg(p, 'data');
  }

  close(): void {
    this.closed = true;
    for (const link of this.links) link.conn?.close();
  }

  private indexOf(server: ServerAddress): number {
    const idx = this.servers.findIndex((s) => s.host === server.host && s.port === server.port);
    if (idx < 0) throw new GearmanError(`server ${serverKey(server)} is not one of this client's job servers`);
    return idx;
  }

  private async submitAnywhere(
    type: PacketTypeName,
    fn: string,
    data: Buffer | string,
    unique: string | undefined,
    job: ForegroundJob | null,
  ): Promise<{ idx: number; packet: Packet }> {
    if (unique !== undefined && Buffer.byteLength(unique) > MAX_UNIQUE_BYTES) {
      throw new GearmanError(`unique id "${unique}" is ${Buffer.byteLength(unique)} bytes: expected at most ${MAX_UNIQUE_BYTES}`);
    }
    const failures: string[] = [];
    for (const idx of this.serverOrder(unique)) {
      try {
        const packet = await this.request(idx, type, [fn, unique ?? '', data], 'JOB_CREATED', job);
        return { idx, packet };
      } catch (err) {
        // A refusal by a live server (ERROR packet) is an answer, not an outage: do not retry elsewhere.
        if (err instanceof GearmanServerError) throw err;
        failures.push((err as Error).message);
      }
    }
    throw new GearmanError(`no job server accepted ${fn}: ${failures.join('; ')}`);
  }

  private async connection(idx: number): Promise<GearmanConnection> {
    if (this.closed) throw new GearmanError('client is closed');
    const link = this.links[idx]!;
    if (link.conn?.isOpen) return link.conn;
    if (!link.connecting) {
      link.connecting = GearmanConnection.connect(
        this.servers[idx]!,
        { onPacket: (p) => this.onPacket(link, p), onClose: (err) => this.onClose(link, err) },
        this.connectTimeoutMs,
      ).then(
        (conn) => {
          link.conn = conn;
          link.connecting = null;
          if (this.closed) conn.close();
          // Without this option gearmand turns a worker's WORK_EXCEPTION into a bare WORK_FAIL
          // (measured on 1.1.20); with it the client sees the exception text. Pipelined: the
          // answer precedes those of every request sent after it.
          const ignore = () => {};
          link.waiters.push({ expects: 'OPTION_RES', resolve: ignore, reject: ignore });
          conn.send('OPTION_REQ', ['exceptions']);
          return conn;
        },
        (err: unknown) => {
          link.connecting = null;
          throw err;
        },
      );
    }
    return link.connecting;
  }

  private async request(
    idx: number,
    type: PacketTypeName,
    args: Array<Buffer | string>,
    expects: PacketTypeName,
    job: ForegroundJob | null = null,
  ): Promise<Packet> {
    const link = this.links[idx]!;
    // An open connection is used at once: awaiting it would put the write behind a microtask turn.
    const conn = link.conn?.isOpen && !this.closed ? link.conn : await this.connection(idx);
    return new Promise<Packet>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The answer may still come; the connection's order is now unknown, so start afresh.
        conn.close();
        reject(new GearmanError(`no ${expects} within ${this.requestTimeoutMs} ms`, conn.key));
      }, this.requestTimeoutMs);
      const waiter: Waiter = {
        expects,
        resolve: (p) => {
          clearTimeout(timer);
          if (job && p.name === 'JOB_CREATED') {
            const handle = argText(p, 'handle');
            link.jobs.set(handle, [...(link.jobs.get(handle) ?? []), job]);
          }
          resolve(p);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      link.waiters.push(waiter);
      if (!conn.send(type, args)) {
        link.waiters = link.waiters.filter((w) => w !== waiter);
        waiter.reject(new GearmanError('connection is closed', conn.key));
      }
    });
  }

  private onPacket(link: ServerLink, p: Packet): void {
    switch (p.name) {
      case 'JOB_CREATED':
      case 'STATUS_RES':
      case 'ECHO_RES':
      case 'OPTION_RES': {
        const w = link.waiters.shift();
        if (!w) return;
        if (w.expects === p.name) w.resolve(p);
        else w.reject(new GearmanError(`expected ${w.expects}, got ${p.name}`, link.conn?.key));
        return;
      }
      case 'ERROR': {
        const w = link.waiters.shift();
        w?.reject(new GearmanServerError(argText(p, 'code'), argText(p, 'text'), link.conn?.key));
        return;
      }
      case 'WORK_DATA':
      case 'WORK_WARNING': {
        for (const j of link.jobs.get(argText(p, 'handle')) ?? []) (p.name === 'WORK_DATA' ? j.data : j.warnings).push(arg(p, 'data'));
        return;
      }
      case 'WORK_COMPLETE':
      case 'WORK_FAIL':
      case 'WORK_EXCEPTION': {
        const handle = argText(p, 'handle');
        const jobs = link.jobs.get(handle) ?? [];
        link.jobs.delete(handle);
        const outcome: JobOutcome =
          p.name === 'WORK_COMPLETE'
            ? { status: 'complete', data: arg(p, 'data') }
            : p.name === 'WORK_FAIL'
              ? { status: 'fail' }
              : { status: 'exception', data: arg(p, 'data') };
        for (const j of jobs) j.resolve(outcome, j.data, j.warnings);
        return;
      }
      default:
        return;
    }
  }

  private onClose(link: ServerLink, err: Error | undefined): void {
    if (link.conn && !link.conn.isOpen) link.conn = null;
    const reason = err ?? new GearmanError('connection closed');
    for (const w of link.waiters.splice(0)) w.reject(reason);
    for (const jobs of link.jobs.values()) {
      for (const j of jobs) j.reject(new GearmanError(`lost the job server before the job finished: ${reason.message}`));
    }
    link.jobs.clear();
  }

  private dropJob(idx: number, handle: string, job: ForegroundJob): void {
    const link = this.links[idx]!;
    const rest = (link.jobs.get(handle) ?? []).filter((j) => j !== job);
    if (rest.length) link.jobs.set(handle, rest);
    else link.jobs.delete(handle);
  }
}

/** The job server answered with an ERROR packet. */
export class GearmanServerError extends GearmanError {
  readonly serverCode: string;
  constructor(serverCode: string, text: string, server?: string) {
    super(`job server refused: ${serverCode} ${text}`, server);
    this.serverCode = serverCode;
  }
}
