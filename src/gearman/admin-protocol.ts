/**
 * Gearman admin protocol: newline-terminated text commands on the job server's port. `status`
 * and `workers` answer with lines ended by a lone `.`; `version`, `maxqueue` and `getpid` answer
 * with one line; any command may be answered by one `ERR code text` line. Pure: no I/O.
 */
import { ProtocolError } from '../errors.js';

export type AdminCommand =
  | { kind: 'status' }
  | { kind: 'workers' }
  | { kind: 'version' }
  | { kind: 'getpid' }
  | { kind: 'maxqueue'; function: string; size?: number };

export interface FunctionStatus {
  function: string;
  /** Jobs queued or running. */
  total: number;
  running: number;
  /** Workers that registered the function. */
  workers: number;
}

export interface WorkerInfo {
  fd: number;
  ip: string;
  clientId: string;
  functions: string[];
}

export type AdminResponse =
  | { kind: 'status'; functions: FunctionStatus[] }
  | { kind: 'workers'; workers: WorkerInfo[] }
  | { kind: 'version'; version: string }
  | { kind: 'getpid'; pid: number }
  | { kind: 'maxqueue' }
  | { kind: 'error'; code: string; text: string };

const WORKER_LINE = /^(\d+) (\S+) (\S+) :(.*)$/;
const SAFE_WORD = /^[^\s\0]+$/;

export function encodeAdminCommand(cmd: AdminCommand): Buffer {
  if (cmd.kind !== 'maxqueue') return Buffer.from(`${cmd.kind}\n`, 'latin1');
  if (!SAFE_WORD.test(cmd.function)) {
    throw new ProtocolError(`maxqueue function name ${JSON.stringify(cmd.function)} must be one word without spaces`, 0);
  }
  if (cmd.size !== undefined && (!Number.isInteger(cmd.size) || cmd.size < 0)) {
    throw new ProtocolError(`maxqueue size ${cmd.size} must be a non-negative integer`, 0);
  }
  return Buffer.from(`maxqueue ${cmd.function}${cmd.size === undefined ? '' : ` ${cmd.size}`}\n`, 'utf8');
}

/** Longest line accepted: a `workers` line lists every function of a worker, so allow plenty. */
export const DEFAULT_MAX_LINE = 1024 * 1024;

/**
 * Decodes the answers to commands in the order they were sent. Call `expect(kind)` for each
 * command written, then `push` bytes as they arrive.
 */
export class AdminDecoder {
  private pending: AdminCommand['kind'][] = [];
  private partial = '';
  private partialStart = 0;
  private consumed = 0;
  private lines: string[] = [];
  private readonly maxLine: number;

  constructor(opts: { maxLine?: number } = {}) {
    this.maxLine = opts.maxLine ?? DEFAULT_MAX_LINE;
  }

  expect(kind: AdminCommand['kind']): void {
    this.pending.push(kind);
  }

  get waiting(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): AdminResponse[] {
    const out: AdminResponse[] = [];
    const text = chunk.toString('latin1');
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) {
        this.partial += text.slice(from);
        if (this.partial.length > this.maxLine) {
          throw new ProtocolError(`admin response line longer than ${this.maxLine} bytes without a newline`, this.partialStart);
        }
        this.consumed += chunk.length;
        return out;
      }
      const line = this.partial + text.slice(from, nl);
      const lineStart = this.partial ? this.partialStart : this.consumed + from;
      this.partial = '';
      this.partialStart = this.consumed + nl + 1;
      from = nl + 1;
      const res = this.line(Buffer.from(line.replace(/\r$/, ''), 'latin1').toString('utf8'), lineStart);
      if (res) out.push(res);
    }
  }

  private line(line: string, at: number): AdminResponse | null {
    const kind = this.pending[0];
    if (kind === undefined) throw new ProtocolError(`unexpected admin response line ${JSON.stringify(line.slice(0, 80))}: no command is waiting`, at);
    if (this.lines.length === 0 && line.startsWith('ERR ')) {
      this.pending.shift();
      const m = /^ERR (\S+)\s?(.*)$/.exec(line);
      if (!m) throw new ProtocolError(`error answer ${JSON.stringify(line)}: expected "ERR <code> <text>"`, at);
      return { kind: 'error', code: m[1]!, text: m[2]! };
    }
    switch (kind) {
      case 'status':
      case 'workers':
        if (line !== '.') {
          this.lines.push(line);
          this.validateListLine(kind, line, at);
          return null;
        }
        this.pending.shift();
        return this.finishList(kind);
      case 'version': {
        this.pending.shift();
        const m = /^OK (.+)$/.exec(line);
        if (!m) throw new ProtocolError(`version answer ${JSON.stringify(line)}: expected "OK <version>"`, at);
        return { kind: 'version', version: m[1]! };
      }
      case 'getpid': {
        this.pending.shift();
        const m = /^OK (\d+)$/.exec(line);
        if (!m) throw new ProtocolError(`getpid answer ${JSON.stringify(line)}: expected "OK <pid>"`, at);
        return { kind: 'getpid', pid: Number(m[1]) };
      }
      case 'maxqueue':
        this.pending.shift();
        if (line !== 'OK') throw new ProtocolError(`maxqueue answer ${JSON.stringify(line)}: expected "OK"`, at);
        return { kind: 'maxqueue' };
    }
  }

  private validateListLine(kind: 'status' | 'workers', line: string, at: number): void {
    if (kind === 'status') {
      if (!/^[^\t]*\t\d+\t\d+\t\d+$/.test(line)) {
        throw new ProtocolError(`status line ${JSON.stringify(line)}: expected "function<TAB>total<TAB>running<TAB>workers"`, at);
      }
    } else if (!WORKER_LINE.test(line)) {
      throw new ProtocolError(`workers line ${JSON.stringify(line)}: expected "fd ip client-id : function..."`, at);
    }
  }

  private finishList(kind: 'status' | 'workers'): AdminResponse {
    const lines = this.lines;
    this.lines = [];
    if (kind === 'status') {
      return {
        kind,
        functions: lines.map((l) => {
          const [fn, total, running, workers] = l.split('\t') as [string, string, string, string];
          return { function: fn, total: Number(total), running: Number(running), workers: Number(workers) };
        }),
      };
    }
    return {
      kind,
      workers: lines.map((l) => {
        const [, fd, ip, clientId, rest] = WORKER_LINE.exec(l) as unknown as [string, string, string, string, string];
        return { fd: Number(fd), ip, clientId, functions: rest.split(' ').filter((f) => f !== '') };
      }),
    };
  }
}
