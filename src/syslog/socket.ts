import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import type { Clock } from '../clock.js';
import { formatRfc3164 } from './format.js';
import { parseFacility, parseLevel } from './names.js';

/*
 * Node's dgram speaks only UDP, so reaching /dev/log takes the unix-dgram addon or util-linux
 * logger(1). Measured on a 2-core Linux VM, Node 20, median of 10-20 runs each:
 *   - addon: load + create socket + send one message inside the process 4.7 ms, once per
 *     process; further messages cost microseconds (one sendto).
 *   - logger: spawnSync of `logger -u SOCK --rfc3164` 3.4-4.2 ms, paid again for every message.
 *   - whole process (node, load, send one, exit): addon 81.7-87.5 ms, logger 91.4-141.7 ms,
 *     bare `node -e 0` 80.4 ms.
 * rcron sends two or three messages per active run and the gearman worker one per job, so the
 * addon wins, and it lets us write the exact RFC 3164 bytes ourselves.
 */

interface UnixDgramSocket {
  connect(path: string): void;
  send(buf: Buffer, cb: (err?: Error & { code?: number }) => void): void;
  on(event: 'writable', fn: () => void): void;
  on(event: 'error', fn: (err: Error & { code?: number }) => void): void;
  removeListener(event: 'error', fn: (err: Error & { code?: number }) => void): void;
  close(): void;
}
interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

export const DEFAULT_SYSLOG_SOCKET = '/dev/log';
/** A daemon that never drains its socket must not hold the caller past this at close. */
const CLOSE_FLUSH_LIMIT_MS = 2000;

export interface SyslogOptions {
  /** The daemon's Unix datagram socket; /dev/log by default. */
  path?: string;
  facility: string | number;
  /** Program name shown before `[pid]:`. */
  tag: string;
  pid?: number;
  clock?: Pick<Clock, 'now'>;
  /** Where the one failure report goes; process.stderr by default. */
  stderr?: { write(text: string): unknown };
}

export interface Syslog {
  /** Queues one message; never throws for delivery problems (they are reported once on stderr). */
  send(level: string | number, message: string): void;
  /** Sends what is still queued (bounded wait), then closes the socket. */
  close(): Promise<void>;
}

function errorText(err: Error & { code?: number }): string {
  // unix-dgram reports a negative errno number in `code`: give it its name.
  if (typeof err.code === 'number' && err.code < 0) return getSystemErrorName(err.code);
  return err.message;
}

/**
 * Opens a sender to the local syslog daemon. Unknown facility names throw ConfigError here;
 * a missing socket or addon does not: the caller keeps working and stderr says so once.
 */
export function openSyslog(opts: SyslogOptions): Syslog {
  const facility = parseFacility(opts.facility, 'syslog facility');
  const path = opts.path ?? DEFAULT_SYSLOG_SOCKET;
  const pid = opts.pid ?? process.pid;
  const now = opts.clock ? () => opts.clock!.now() : () => Date.now();
  const stderr = opts.stderr ?? process.stderr;

  let reported = false;
  const report = (what: string): void => {
    if (reported) return;
    reported = true;
    stderr.write(`${opts.tag}: syslog: ${what}; messages to ${path} are being dropped\n`);
  };

  let sock: UnixDgramSocket | null = null;
  try {
    const addon = createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
    sock = addon.createSocket('unix_dgram');
  } catch (err) {
    report(`cannot open a Unix datagram socket (${(err as Error).message})`);
  }

  const queue: Buffer[] = [];
  let connected = false;
  let congested = false;
  let closed = false;
  let onDrained: (() => void) | null = null;

  // Connected, not sendto(): Linux wakes a connected sender when the daemon drains its queue,
  // while an unconnected one would poll "writable" and hit EAGAIN again in a spin.
  const connect = (): boolean => {
    if (connected) return true;
    if (!sock) return false;
    let failure: (Error & { code?: number }) | undefined;
    const onError = (err: Error & { code?: number }): void => {
      failure = err;
    };
    sock.on('error', onError);
    sock.connect(path);
    sock.removeListener('error', onError);
    if (failure) {
      report(`cannot connect to ${path}: ${errorText(failure)}`);
      return false;
    }
    connected = true;
    return true;
  };

  /** 'sent', 'busy' (socket buffer full, wait for writable) or 'failed'. */
  const sendOne = (buf: Buffer): 'sent' | 'busy' | 'failed' => {
    let outcome: 'sent' | 'busy' | 'failed' = 'sent';
    let failure: (Error & { code?: number }) | undefined;
    // unix-dgram calls back synchronously from send(); a full socket buffer comes back as
    // code 1 ("congestion") and a 'writable' event follows when there is room again.
    sock!.send(buf, (err) => {
      if (!err) return;
      if (err.code === 1) outcome = 'busy';
      else {
        outcome = 'failed';
        failure = err;
      }
    });
    if (failure) {
      // The daemon may have restarted and made a new socket: the next message reconnects.
      connected = false;
      report(`cannot send to ${path}: ${errorText(failure)}`);
    }
    return outcome;
  };

  const pump = (): void => {
    while (!congested && queue.length > 0) {
      if (!connect()) {
        queue.length = 0;
        break;
      }
      const outcome = sendOne(queue[0]!);
      if (outcome === 'busy') {
        congested = true;
        return;
      }
      queue.shift();
    }
    if (queue.length === 0 && onDrained) onDrained();
  };

  sock?.on('writable', () => {
    congested = false;
    pump();
  });

  return {
    send(level, message) {
      const severity = parseLevel(level, 'syslog level');
      if (closed || !sock) return;
      queue.push(formatRfc3164(facility, severity, new Date(now()), opts.tag, pid, message));
      pump();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (sock && queue.length > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, CLOSE_FLUSH_LIMIT_MS);
          onDrained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (queue.length > 0) report(`${queue.length} message(s) still queued after ${CLOSE_FLUSH_LIMIT_MS} ms`);
      }
      try {
        sock?.close();
      } catch {
        // Closing an fd that failed to open has nothing left to release.
      }
      sock = null;
    },
  };
}
