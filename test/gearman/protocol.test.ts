import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  PACKET_SPECS,
  PacketDecoder,
  encodePacket,
  encodeRequest,
  type Magic,
  type Packet,
} from '../../src/gearman/protocol.js';
import { AdminDecoder, encodeAdminCommand } from '../../src/gearman/admin-protocol.js';
import { rng } from '../helpers/rng.js';

function sampleArgs(type: number): Buffer[] {
  const spec = PACKET_SPECS.get(type)!;
  return spec.args.map((name, i) =>
    spec.opaqueLast && i === spec.args.length - 1 ? Buffer.from(`${name}\0with\0nuls\u00e9`) : Buffer.from(`${name}-${type}`),
  );
}

function allCases(): Array<{ magic: Magic; type: number; args: Buffer[] }> {
  const out: Array<{ magic: Magic; type: number; args: Buffer[] }> = [];
  for (const [type, spec] of PACKET_SPECS) for (const magic of spec.magics) out.push({ magic, type, args: sampleArgs(type) });
  return out;
}

const plain = (ps: Packet[]) => ps.map((p) => ({ magic: p.magic, type: p.type, name: p.name, args: p.args.map((a) => a.toString('hex')) }));

describe('gearman packet codec', () => {
  it('encodes the bytes the protocol specifies (SUBMIT_JOB_BG as sent to gearmand)', () => {
    const bytes = encodeRequest('SUBMIT_JOB_BG', ['backup', 'backup@2026-11-23T10:05Z', '']);
    expect(bytes.toString('hex')).toBe(
      '00524551' + '00000012' + '00000020' + Buffer.from('backup\0backup@2026-11-23T10:05Z\0').toString('hex'),
    );
  });

  it('round-trips every packet type in every direction it travels', () => {
    const cases = allCases();
    expect(cases.length).toBeGreaterThanOrEqual(40);
    for (const c of cases) {
      const dec = new PacketDecoder();
      const [p, ...rest] = dec.push(encodePacket(c.magic, c.type, c.args));
      expect(rest).toEqual([]);
      expect(p!.magic).toBe(c.magic);
      expect(p!.type).toBe(c.type);
      expect(p!.name).toBe(PACKET_SPECS.get(c.type)!.name);
      expect(p!.args.map((a) => a.toString('hex'))).toEqual(c.args.map((a) => a.toString('hex')));
      expect(dec.idle).toBe(true);
    }
  });

  it('gives the same packets fed one byte at a time as all at once', () => {
    const stream = Buffer.concat(allCases().map((c) => encodePacket(c.magic, c.type, c.args)));
    const whole = new PacketDecoder().push(stream);
    const dec = new PacketDecoder();
    const bytewise: Packet[] = [];
    for (let i = 0; i < stream.length; i++) bytewise.push(...dec.push(stream.subarray(i, i + 1)));
    expect(plain(bytewise)).toEqual(plain(whole));
    expect(whole.length).toBe(allCases().length);
    const r = rng(7);
    const dec2 = new PacketDecoder();
    const random: Packet[] = [];
    for (let i = 0; i < stream.length; ) {
      const n = 1 + Math.floor(r() * 40);
      random.push(...dec2.push(stream.subarray(i, i + n)));
      i += n;
    }
    expect(plain(random)).toEqual(plain(whole));
  });

  it('keeps no reference to the chunk it was fed, so a connection can reuse its read buffer', () => {
    const stream = Buffer.concat(allCases().map((c) => encodePacket(c.magic, c.type, c.args)));
    const expected = plain(new PacketDecoder().push(stream));
    const dec = new PacketDecoder();
    const got: Packet[] = [];
    const reused = Buffer.alloc(64);
    for (let i = 0; i < stream.length; i += reused.length) {
      const n = stream.copy(reused, 0, i, i + reused.length);
      got.push(...dec.push(reused.subarray(0, n)));
      reused.fill(0xff);
    }
    expect(plain(got)).toEqual(expected);
  });

  it('reports bad magic at the offending byte', () => {
    const good = encodeRequest('ECHO_REQ', ['hi']);
    const bad = Buffer.concat([good, Buffer.from('\0REX')]);
    const err = catchErr(() => new PacketDecoder().push(bad));
    expect(err.offset).toBe(good.length + 3);
    expect(err.message).toMatch(/bad magic byte 0x58.*expected "\\0REQ" or "\\0RES"/);
  });

  it('reports a magic of the wrong direction', () => {
    const err = catchErr(() => new PacketDecoder({ expect: 'RES' }).push(encodeRequest('GRAB_JOB')));
    expect(err.message).toMatch(/"\\0REQ" where "\\0RES" was expected/);
    expect(err.offset).toBe(0);
  });

  it('reports an unknown type with its offset', () => {
    const frame = Buffer.from('0052455300000005' + '00000000', 'hex');
    const err = catchErr(() => new PacketDecoder().push(frame));
    expect(err.message).toMatch(/unknown packet type 5/);
    expect(err.offset).toBe(4);
  });

  it('reports a size beyond the limit before buffering it', () => {
    const frame = Buffer.from('005245530000000d' + '7fffffff', 'hex');
    const err = catchErr(() => new PacketDecoder({ maxBody: 1024 }).push(frame));
    expect(err.message).toMatch(/WORK_COMPLETE body of 2147483647 bytes exceeds the limit of 1024/);
    expect(err.offset).toBe(8);
  });

  it('reports missing and extra arguments', () => {
    const missing = Buffer.concat([Buffer.from('005245530000000b00000003', 'hex'), Buffer.from('H:1')]);
    const e1 = catchErr(() => new PacketDecoder().push(missing));
    expect(e1.message).toMatch(/JOB_ASSIGN is missing argument function: expected 3/);
    expect(e1.offset).toBe(15);
    const extra = Buffer.concat([Buffer.from('005245510000000e00000005', 'hex'), Buffer.from('H:1\0x')]);
    const e2 = catchErr(() => new PacketDecoder().push(extra));
    expect(e2.message).toMatch(/WORK_FAIL has an extra argument/);
    expect(e2.offset).toBe(15);
    const relayedException = Buffer.concat([Buffer.from('005245530000000e00000007', 'hex'), Buffer.from('H:vm:2\0')]);
    expect(new PacketDecoder().push(relayedException)[0]!.args).toEqual([Buffer.from('H:vm:2')]);
    const body = Buffer.from('0052455300000006' + '00000002' + '6869', 'hex');
    expect(catchErr(() => new PacketDecoder().push(body)).message).toMatch(/NOOP takes no arguments but declares a body of 2/);
  });

  it('refuses to encode argument lists that do not match the type', () => {
    expect(catchErr(() => encodeRequest('SUBMIT_JOB', ['f', 'u'])).message).toMatch(/takes 3 argument\(s\) \(function, unique, data\), got 2/);
    expect(catchErr(() => encodeRequest('CAN_DO', ['a\0b'])).message).toMatch(/function contains a NUL byte/);
    expect(catchErr(() => encodePacket('RES', 'GRAB_JOB')).message).toMatch(/not valid as RES/);
  });

  it('stays failed after a protocol error instead of resynchronising on garbage', () => {
    const dec = new PacketDecoder();
    catchErr(() => dec.push(Buffer.from('xx')));
    expect(catchErr(() => dec.push(encodeRequest('GRAB_JOB'))).offset).toBe(0);
  });

  it('fuzz: random bytes, mutated and truncated frames give packets or ProtocolError, nothing else', () => {
    const r = rng(12345);
    const frames = allCases().map((c) => encodePacket(c.magic, c.type, c.args));
    let errors = 0;
    let packets = 0;
    for (let round = 0; round < 3000; round++) {
      let input: Buffer;
      const pick = frames[Math.floor(r() * frames.length)]!;
      const mode = round % 3;
      if (mode === 0) {
        input = Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
      } else if (mode === 1) {
        input = Buffer.from(pick);
        for (let k = 0; k < 1 + Math.floor(r() * 3); k++) input[Math.floor(r() * input.length)] = Math.floor(r() * 256);
      } else {
        input = Buffer.concat([pick.subarray(0, Math.floor(r() * pick.length)), frames[Math.floor(r() * frames.length)]!]);
      }
      const dec = new PacketDecoder({ maxBody: 4096 });
      try {
        for (let i = 0; i < input.length; ) {
          const n = 1 + Math.floor(r() * 8);
          packets += dec.push(input.subarray(i, i + n)).length;
          i += n;
        }
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        expect(err.offset).toBeGreaterThanOrEqual(0);
        expect(err.offset).toBeLessThanOrEqual(input.length);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(1000);
    expect(packets).toBeGreaterThan(100);
  });
});

describe('gearman admin codec', () => {
  it('encodes commands as text lines and checks maxqueue arguments', () => {
    expect(encodeAdminCommand({ kind: 'status' }).toString()).toBe('status\n');
    expect(encodeAdminCommand({ kind: 'maxqueue', function: 'backup', size: 10 }).toString()).toBe('maxqueue backup 10\n');
    expect(catchErr(() => encodeAdminCommand({ kind: 'maxqueue', function: 'a b' })).message).toMatch(/one word/);
  });

  it('decodes status, workers, version, maxqueue and ERR answers in order, in any split', () => {
    const text =
      'backup\t2\t1\t3\nrotate\t0\t0\t1\n.\n' +
      '33 127.0.0.1 - : backup rotate\n34 ::1 w-2 :\n.\n' +
      'OK 1.1.20\n' +
      'OK\n' +
      'ERR UNKNOWN_COMMAND Unknown+server+command\n';
    const kinds = ['status', 'workers', 'version', 'maxqueue', 'status'] as const;
    const expected = [
      { kind: 'status', functions: [{ function: 'backup', total: 2, running: 1, workers: 3 }, { function: 'rotate', total: 0, running: 0, workers: 1 }] },
      {
        kind: 'workers',
        workers: [
          { fd: 33, ip: '127.0.0.1', clientId: '-', functions: ['backup', 'rotate'] },
          { fd: 34, ip: '::1', clientId: 'w-2', functions: [] },
        ],
      },
      { kind: 'version', version: '1.1.20' },
      { kind: 'maxqueue' },
      { kind: 'error', code: 'UNKNOWN_COMMAND', text: 'Unknown+server+command' },
    ];
    for (const step of [1, 3, text.length]) {
      const dec = new AdminDecoder();
      kinds.forEach((k) => dec.expect(k));
      const got = [];
      for (let i = 0; i < text.length; i += step) got.push(...dec.push(Buffer.from(text.slice(i, i + step))));
      expect(got).toEqual(expected);
      expect(dec.waiting).toBe(0);
    }
  });

  it('fuzz: random lines give answers or ProtocolError, nothing else', () => {
    const r = rng(99);
    // Whole answer lines mixed with loose tokens, so inputs are often valid and often not.
    const alphabet = ['OK\n', 'OK 1.1.20\n', 'OK 42\n', 'ERR X y\n', '.\n', 'fn\t1\t0\t1\n', '3 ::1 - : fn\n', 'ERR', ' ', '\t', '\n', '1', ':', '\r', '\u00ff'];
    const kinds = ['status', 'workers', 'version', 'getpid', 'maxqueue'] as const;
    let errors = 0;
    let answers = 0;
    for (let round = 0; round < 3000; round++) {
      const text = Array.from({ length: Math.floor(r() * 8) }, () => alphabet[Math.floor(r() * alphabet.length)]!).join('');
      const dec = new AdminDecoder({ maxLine: 64 });
      for (let k = 0; k < 3; k++) dec.expect(kinds[Math.floor(r() * kinds.length)]!);
      try {
        answers += dec.push(Buffer.from(text, 'latin1')).length;
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        expect(err.offset).toBeLessThanOrEqual(text.length);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(300);
    expect(answers).toBeGreaterThan(100);
  });

  it('names the malformed line and its offset', () => {
    const dec = new AdminDecoder();
    dec.expect('status');
    const err = catchErr(() => dec.push(Buffer.from('ok\t1\t1\t1\nbroken line\n')));
    expect(err.message).toMatch(/status line "broken line": expected "function<TAB>total<TAB>running<TAB>workers"/);
    expect(err.offset).toBe(9);
    const idle = new AdminDecoder();
    expect(catchErr(() => idle.push(Buffer.from('surprise\n'))).message).toMatch(/no command is waiting/);
  });
});

function catchErr(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error('expected a ProtocolError, none was thrown');
}
