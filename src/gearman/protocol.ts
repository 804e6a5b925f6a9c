/**
 * Gearman binary protocol: a pure codec with no I/O. A frame is a 4-byte magic (`\0REQ` or
 * `\0RES`), a big-endian u32 type, a big-endian u32 body size, then the arguments joined by NUL.
 * Only the last argument of a data-carrying packet may contain NUL bytes.
 */
import { ProtocolError } from '../errors.js';

export type Magic = 'REQ' | 'RES';

export const PacketType = {
  CAN_DO: 1,
  CANT_DO: 2,
  RESET_ABILITIES: 3,
  PRE_SLEEP: 4,
  NOOP: 6,
  SUBMIT_JOB: 7,
  JOB_CREATED: 8,
  GRAB_JOB: 9,
  NO_JOB: 10,
  JOB_ASSIGN: 11,
  WORK_STATUS: 12,
  WORK_COMPLETE: 13,
  WORK_FAIL: 14,
  GET_STATUS: 15,
  ECHO_REQ: 16,
  ECHO_RES: 17,
  SUBMIT_JOB_BG: 18,
  ERROR: 19,
  STATUS_RES: 20,
  SUBMIT_JOB_HIGH: 21,
  SET_CLIENT_ID: 22,
  CAN_DO_TIMEOUT: 23,
  ALL_YOURS: 24,
  WORK_EXCEPTION: 25,
  OPTION_REQ: 26,
  OPTION_RES: 27,
  WORK_DATA: 28,
  WORK_WARNING: 29,
  GRAB_JOB_UNIQ: 30,
  JOB_ASSIGN_UNIQ: 31,
  SUBMIT_JOB_HIGH_BG: 32,
  SUBMIT_JOB_LOW: 33,
  SUBMIT_JOB_LOW_BG: 34,
  GET_STATUS_UNIQUE: 41,
  STATUS_RES_UNIQUE: 42,
} as const;

export type PacketTypeName = keyof typeof PacketType;
export type PacketTypeNumber = (typeof PacketType)[PacketTypeName];

interface PacketSpec {
  name: PacketTypeName;
  /** Which magics may carry it: workers send WORK_* as REQ and the server relays them as RES. */
  magics: readonly Magic[];
  args: readonly string[];
  /** The last argument is opaque data that may contain NUL bytes. */
  opaqueLast: boolean;
}

const REQ = ['REQ'] as const;
const RES = ['RES'] as const;
const BOTH = ['REQ', 'RES'] as const;
const SUBMIT = { magics: REQ, args: ['function', 'unique', 'data'], opaqueLast: true } as const;

export const PACKET_SPECS: ReadonlyMap<number, PacketSpec> = new Map<number, PacketSpec>([
  [1, { name: 'CAN_DO', magics: REQ, args: ['function'], opaqueLast: false }],
  [2, { name: 'CANT_DO', magics: REQ, args: ['function'], opaqueLast: false }],
  [3, { name: 'RESET_ABILITIES', magics: REQ, args: [], opaqueLast: false }],
  [4, { name: 'PRE_SLEEP', magics: REQ, args: [], opaqueLast: false }],
  [6, { name: 'NOOP', magics: RES, args: [], opaqueLast: false }],
  [7, { name: 'SUBMIT_JOB', ...SUBMIT }],
  [8, { name: 'JOB_CREATED', magics: RES, args: ['handle'], opaqueLast: false }],
  [9, { name: 'GRAB_JOB', magics: REQ, args: [], opaqueLast: false }],
  [10, { name: 'NO_JOB', magics: RES, args: [], opaqueLast: false }],
  [11, { name: 'JOB_ASSIGN', magics: RES, args: ['handle', 'function', 'data'], opaqueLast: true }],
  [12, { name: 'WORK_STATUS', magics: BOTH, args: ['handle', 'numerator', 'denominator'], opaqueLast: false }],
  [13, { name: 'WORK_COMPLETE', magics: BOTH, args: ['handle', 'data'], opaqueLast: true }],
  [14, { name: 'WORK_FAIL', magics: BOTH, args: ['handle'], opaqueLast: false }],
  [15, { name: 'GET_STATUS', magics: REQ, args: ['handle'], opaqueLast: false }],
  [16, { name: 'ECHO_REQ', magics: REQ, args: ['data'], opaqueLast: true }],
  [17, { name: 'ECHO_RES', magics: RES, args: ['data'], opaqueLast: true }],
  [18, { name: 'SUBMIT_JOB_BG', ...SUBMIT }],
  [19, { name: 'ERROR', magics: RES, args: ['code', 'text'], opaqueLast: true }],
  [20, { name: 'STATUS_RES', magics: RES, args: ['handle', 'known', 'running', 'numerator', 'denominator'], opaqueLast: false }],
  [21, { name: 'SUBMIT_JOB_HIGH', ...SUBMIT }],
  [22, { name: 'SET_CLIENT_ID', magics: REQ, args: ['id'], opaqueLast: false }],
  [23, { name: 'CAN_DO_TIMEOUT', magics: REQ, args: ['function', 'timeout'], opaqueLast: false }],
  [24, { name: 'ALL_YOURS', magics: REQ, args: [], opaqueLast: false }],
  [25, { name: 'WORK_EXCEPTION', magics: BOTH, args: ['handle', 'data'], opaqueLast: true }],
  [26, { name: 'OPTION_REQ', magics: REQ, args: ['option'], opaqueLast: false }],
  [27, { name: 'OPTION_RES', magics: RES, args: ['option'], opaqueLast: false }],
  [28, { name: 'WORK_DATA', magics: BOTH, args: ['handle', 'data'], opaqueLast: true }],
  [29, { name: 'WORK_WARNING', magics: BOTH, args: ['handle', 'data'], opaqueLast: true }],
  [30, { name: 'GRAB_JOB_UNIQ', magics: REQ, args: [], opaqueLast: false }],
  [31, { name: 'JOB_ASSIGN_UNIQ', magics: RES, args: ['handle', 'function', 'unique', 'data'], opaqueLast: true }],
  [32, { name: 'SUBMIT_JOB_HIGH_BG', ...SUBMIT }],
  [33, { name: 'SUBMIT_JOB_LOW', ...SUBMIT }],
  [34, { name: 'SUBMIT_JOB_LOW_BG', ...SUBMIT }],
  [41, { name: 'GET_STATUS_UNIQUE', magics: REQ, args: ['unique'], opaqueLast: false }],
  [
    42,
    {
      name: 'STATUS_RES_UNIQUE',
      magics: RES,
      args: ['unique', 'known', 'running', 'numerator', 'denominator', 'clients'],
      opaqueLast: false,
    },
  ],
]);

export interface Packet {
  magic: Magic;
  type: number;
  name: PacketTypeName;
  args: Buffer[];
}

export const HEADER_SIZE = 12;
/** Default ceiling on a body: far above any cron payload, low enough that a garbage size cannot exhaust memory. */
export const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

const MAGIC_BYTES: Record<Magic, Buffer> = {
  REQ: Buffer.from('\0REQ', 'latin1'),
  RES: Buffer.from('\0RES', 'latin1'),
};

function specFor(type: number, magic: Magic, offset: number): PacketSpec {
  const spec = PACKET_SPECS.get(type);
  if (!spec) throw new ProtocolError(`unknown packet type ${type}: expected one of ${[...PACKET_SPECS.keys()].join(', ')}`, offset);
  if (!spec.magics.includes(magic)) {
    throw new ProtocolError(`packet ${spec.name} (${type}) is not valid as ${magic}: expected ${spec.magics.join(' or ')}`, offset);
  }
  return spec;
}

/** Encodes one packet. Throws ProtocolError (offset 0) when the arguments do not match the type. */
export function encodePacket(magic: Magic, type: number | PacketTypeName, args: Array<Buffer | string> = []): Buffer {
  const num = typeof type === 'number' ? type : PacketType[type];
  const spec = specFor(num, magic, 0);
  if (args.length !== spec.args.length) {
    throw new ProtocolError(
      `${spec.name} takes ${spec.args.length} argument(s) (${spec.args.join(', ') || 'none'}), got ${args.length}`,
      0,
    );
  }
  const bufs = args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'utf8') : a));
  bufs.forEach((b, i) => {
    if ((i < bufs.length - 1 || !spec.opaqueLast) && b.includes(0)) {
      throw new ProtocolError(`${spec.name} argument ${spec.args[i]} contains a NUL byte, which only the last data argument may hold`, 0);
    }
  });
  const bodySize = bufs.reduce((n, b) => n + b.length, 0) + Math.max(0, bufs.length - 1);
  const out = Buffer.allocUnsafe(HEADER_SIZE + bodySize);
  MAGIC_BYTES[magic].copy(out, 0);
  out.writeUInt32BE(num, 4);
  out.writeUInt32BE(bodySize, 8);
  let at = HEADER_SIZE;
  bufs.forEach((b, i) => {
    if (i > 0) out[at++] = 0;
    at += b.copy(out, at);
  });
  return out;
}

export const encodeRequest = (type: number | PacketTypeName, args: Array<Buffer | string> = []): Buffer =>
  encodePacket('REQ', type, args);
export const encodeResponse = (type: number | PacketTypeName, args: Array<Buffer | string> = []): Buffer =>
  encodePacket('RES', type, args);

/** Splits a body into the spec's arguments; `bodyOffset` is the stream offset of the body's first byte. */
function splitArgs(spec: PacketSpec, body: Buffer, bodyOffset: number): Buffer[] {
  const n = spec.args.length;
  if (n === 0) {
    if (body.length > 0) {
      throw new ProtocolError(`${spec.name} takes no arguments but its body has ${body.length} byte(s)`, bodyOffset);
    }
    return [];
  }
  const args: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < n - 1; i++) {
    const nul = body.indexOf(0, start);
    if (nul < 0) {
      throw new ProtocolError(
        `${spec.name} is missing argument ${spec.args[i + 1]}: expected ${n} NUL-separated arguments (${spec.args.join(', ')}), found ${i + 1}`,
        bodyOffset + body.length,
      );
    }
    args.push(body.subarray(start, nul));
    start = nul + 1;
  }
  let last = body.subarray(start);
  if (!spec.opaqueLast) {
    // gearmand 1.1.20 relays a WORK_EXCEPTION to a client without the `exceptions` option as
    // WORK_FAIL with the body "handle\0": one empty trailing argument is tolerated.
    if (last.length > 0 && last[last.length - 1] === 0 && last.indexOf(0) === last.length - 1) last = last.subarray(0, -1);
    const nul = last.indexOf(0);
    if (nul >= 0) {
      throw new ProtocolError(
        `${spec.name} has an extra argument: expected ${n} NUL-separated argument(s) (${spec.args.join(', ')})`,
        bodyOffset + start + nul,
      );
    }
  }
  args.push(last);
  return args;
}

export interface DecoderOptions {
  /** Which magic the peer sends: a client or worker reads RES, a server reads REQ. Absent: either. */
  expect?: Magic;
  maxBody?: number;
}

/**
 * Incremental decoder: `push` any slice of the stream, get back every packet it completes.
 * After a ProtocolError the stream is unsynchronised and the decoder refuses further input.
 */
export class PacketDecoder {
  private readonly expect: Magic | undefined;
  private readonly maxBody: number;
  private header = Buffer.alloc(HEADER_SIZE);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;
  private magic: Magic = 'RES';
  private spec: PacketSpec | null = null;
  private type = 0;
  /** Stream offset of the next byte to arrive. */
  private consumed = 0;
  private frameStart = 0;
  private failed: ProtocolError | null = null;

  constructor(opts: DecoderOptions = {}) {
    this.expect = opts.expect;
    this.maxBody = opts.maxBody ?? DEFAULT_MAX_BODY;
  }

  /** Stream offset of the next byte expected. */
  get offset(): number {
    return this.consumed;
  }

  /** True between frames: no partial packet is buffered. */
  get idle(): boolean {
    return this.headerFill === 0 && this.body === null;
  }

  /** Copies whatever it keeps, so the caller may reuse `chunk` as soon as this returns. */
  push(chunk: Buffer): Packet[] {
    if (this.failed) throw this.failed;
    try {
      return this.pushInner(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) this.failed = err;
      throw err;
    }
  }

  private pushInner(chunk: Buffer): Packet[] {
    const out: Packet[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.body === null) {
        if (this.headerFill === 0) this.frameStart = this.consumed;
        const take = Math.min(HEADER_SIZE - this.headerFill, chunk.length - i);
        chunk.copy(this.header, this.headerFill, i, i + take);
        // Magic is checked byte by byte so garbage is reported where it starts, not 12 bytes later.
        for (let k = this.headerFill; k < Math.min(4, this.headerFill + take); k++) this.checkMagicByte(k);
        this.headerFill += take;
        this.consumed += take;
        i += take;
        if (this.headerFill < HEADER_SIZE) break;
        this.startBody();
        if (this.body !== null && (this.body as Buffer).length === 0) out.push(this.finish());
        continue;
      }
      const body: Buffer = this.body;
      const take = Math.min(body.length - this.bodyFill, chunk.length - i);
      chunk.copy(body, this.bodyFill, i, i + take);
      this.bodyFill += take;
      this.consumed += take;
      i += take;
      if (this.bodyFill === body.length) out.push(this.finish());
    }
    return out;
  }

  private checkMagicByte(k: number): void {
    const b = this.header[k]!;
    const at = this.frameStart + k;
    const want = k === 0 ? [0] : k === 1 ? [0x52] : k === 2 ? [0x45] : [0x51, 0x53];
    if (!want.includes(b)) {
      throw new ProtocolError(`bad magic byte 0x${b.toString(16).padStart(2, '0')}: expected "\\0REQ" or "\\0RES"`, at);
    }
    if (k === 3) {
      this.magic = b === 0x51 ? 'REQ' : 'RES';
      if (this.expect && this.magic !== this.expect) {
        throw new ProtocolError(`magic "\\0${this.magic}" where "\\0${this.expect}" was expected`, this.frameStart);
      }
    }
  }

  private startBody(): void {
    this.type = this.header.readUInt32BE(4);
    const size = this.header.readUInt32BE(8);
    this.spec = specFor(this.type, this.magic, this.frameStart + 4);
    if (size > this.maxBody) {
      throw new ProtocolError(`${this.spec.name} body of ${size} bytes exceeds the limit of ${this.maxBody}`, this.frameStart + 8);
    }
    if (this.spec.args.length === 0 && size > 0) {
      throw new ProtocolError(`${this.spec.name} takes no arguments but declares a body of ${size} byte(s)`, this.frameStart + 8);
    }
    this.body = Buffer.allocUnsafe(size);
    this.bodyFill = 0;
  }

  private finish(): Packet {
    const spec = this.spec!;
    const body = this.body!;
    const args = splitArgs(spec, body, this.frameStart + HEADER_SIZE);
    this.body = null;
    this.spec = null;
    this.headerFill = 0;
    this.bodyFill = 0;
    return { magic: this.magic, type: this.type, name: spec.name, args };
  }
}

/** Looks up an argument by its spec name: `arg(p, 'handle')`. */
export function arg(packet: Packet, name: string): Buffer {
  const spec = PACKET_SPECS.get(packet.type)!;
  const idx = spec.args.indexOf(name);
  const value = idx >= 0 ? packet.args[idx] : undefined;
  if (!value) throw new Error(`${packet.name} has no argument ${name}`);
  return value;
}

export const argText = (packet: Packet, name: string): string => arg(packet, name).toString('utf8');
