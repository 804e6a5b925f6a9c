/**
 * One TCP connection to a job server, speaking the binary protocol: connect with a timeout,
 * write packets, hand decoded packets to a listener, report the close once.
 */
import * as net from 'node:net';
import { CronfleetError, ProtocolError } from '../errors.js';
import { PacketDecoder, encodeRequest, type Packet, type PacketTypeName } from './protocol.js';

export interface ServerAddress {
  host: string;
  port: number;
}

export const DEFAULT_GEARMAN_PORT = 4730;

const READ_BUFFER_BYTES = 64 * 1024;

export const serverKey = (s: ServerAddress): string => `${s.host}:${s.port}`;

/** A job server could not be reached, went away, or did not answer in time. */
export class GearmanError extends CronfleetError {
  readonly server: string | undefined;
  constructor(message: string, server?: string, options?: { cause?: unknown }) {
    super('CF_ERR_GEARMAN', server ? `${server}: ${message}` : message, options);
    this.server = server;
  }
}

export interface ConnectionEvents {
  onPacket(packet: Packet): void;
  /** Called once, when the socket is gone for any reason; `err` is absent on a clean close. */
  onClose(err: Error | undefined): void;
}

export class GearmanConnection {
  readonly server: ServerAddress;
  readonly key: string;
  private socket: net.Socket | null = null;
  private closed = false;
  private failure: Error | undefined;
  private readonly decoder = new PacketDecoder({ expect: 'RES' });

  private constructor(server: ServerAddress, private readonly events: ConnectionEvents) {
    this.server = server;
    this.key = serverKey(server);
  }

  static connect(server: ServerAddress, events: ConnectionEvents, timeoutMs: number): Promise<GearmanConnection> {
    const conn = new GearmanConnection(server, events);
    return new Promise((resolve, reject) => {
      // Reads land in one buffer per connection instead of a fresh Buffer per read pushed
      // through a stream: the decoder copies what it keeps, and this path runs for every packet.
      const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      const socket = net.connect({
        host: server.host,
        port: server.port,
        onread: {
          buffer: readBuffer,
          callback: (n) => {
            conn.receive(readBuffer.subarray(0, n));
            return true;
          },
        },
      });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new GearmanError(`connect timed out after ${timeoutMs} ms`, conn.key));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new GearmanError(`cannot connect: ${err.message}`, conn.key, { cause: err }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        conn.attach(socket);
        resolve(conn);
      });
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    socket.setKeepAlive(true, 30_000);
    socket.on('error', (err) => {
      this.failure ??= new GearmanError(err.message, this.key, { cause: err });
    });
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.events.onClose(this.failure ?? new GearmanError('connection closed by the job server', this.key));
    });
  }

  private receive(chunk: Buffer): void {
    if (this.closed || !this.socket) return;
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      this.failure = err instanceof ProtocolError ? new GearmanError(err.message, this.key, { cause: err }) : (err as Error);
      this.socket.destroy();
      return;
    }
    for (const p of packets) {
      if (this.closed) return;
      this.events.onPacket(p);
    }
  }

  get isOpen(): boolean {
    return !this.closed && this.socket !== null && !this.socket.destroyed;
  }

  send(type: PacketTypeName, args: Array<Buffer | string> = []): boolean {
    if (!this.isOpen) return false;
    this.socket!.write(encodeRequest(type, args));
    return true;
  }

  /**
   * Runs `fn` with the socket corked, so every packet it sends leaves in one write: a worker's
   * CAN_DO burst, or its result and its next GRAB_JOB_UNIQ, reach gearmand together instead of
   * as syscalls that each wake the server.
   */
  batch<T>(fn: () => T): T {
    const socket = this.socket;
    if (!this.isOpen || !socket) return fn();
    socket.cork();
    try {
      return fn();
    } finally {
      socket.uncork();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    this.events.onClose(undefined);
  }
}
