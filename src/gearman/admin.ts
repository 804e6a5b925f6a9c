/** Admin queries (`status`, `workers`, `version`, `maxqueue`) over a short-lived connection. */
import * as net from 'node:net';
import { ProtocolError } from '../errors.js';
import { AdminDecoder, encodeAdminCommand, type AdminCommand, type AdminResponse, type FunctionStatus, type WorkerInfo } from './admin-protocol.js';
import { GearmanError, serverKey, type ServerAddress } from './connection.js';

export function adminCommand(server: ServerAddress, cmd: AdminCommand, timeoutMs = 5_000): Promise<AdminResponse> {
  const key = serverKey(server);
  return new Promise((resolve, reject) => {
    const decoder = new AdminDecoder();
    decoder.expect(cmd.kind);
    const socket = net.connect({ host: server.host, port: server.port });
    let settled = false;
    const finish = (err: Error | null, res?: AdminResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(new GearmanError(`no answer to "${cmd.kind}" within ${timeoutMs} ms`, key)), timeoutMs);
    socket.once('connect', () => socket.write(encodeAdminCommand(cmd)));
    socket.on('data', (chunk: Buffer) => {
      try {
        const [res] = decoder.push(chunk);
        if (res) finish(null, res);
      } catch (err) {
        finish(err instanceof ProtocolError ? new GearmanError(err.message, key, { cause: err }) : (err as Error));
      }
    });
    socket.once('error', (err) => finish(new GearmanError(`admin "${cmd.kind}": ${err.message}`, key, { cause: err })));
    socket.once('close', () => finish(new GearmanError(`connection closed before the answer to "${cmd.kind}"`, key)));
  });
}

function unwrap<K extends AdminResponse['kind']>(res: AdminResponse, kind: K, server: ServerAddress): Extract<AdminResponse, { kind: K }> {
  if (res.kind === 'error') throw new GearmanError(`admin command refused: ${res.code} ${res.text}`, serverKey(server));
  if (res.kind !== kind) throw new GearmanError(`expected a ${kind} answer, got ${res.kind}`, serverKey(server));
  return res as Extract<AdminResponse, { kind: K }>;
}

export async function serverStatus(server: ServerAddress, timeoutMs?: number): Promise<FunctionStatus[]> {
  return unwrap(await adminCommand(server, { kind: 'status' }, timeoutMs), 'status', server).functions;
}

export async function serverWorkers(server: ServerAddress, timeoutMs?: number): Promise<WorkerInfo[]> {
  return unwrap(await adminCommand(server, { kind: 'workers' }, timeoutMs), 'workers', server).workers;
}

export async function serverVersion(server: ServerAddress, timeoutMs?: number): Promise<string> {
  return unwrap(await adminCommand(server, { kind: 'version' }, timeoutMs), 'version', server).version;
}

export async function setMaxQueue(server: ServerAddress, fn: string, size?: number, timeoutMs?: number): Promise<void> {
  unwrap(await adminCommand(server, { kind: 'maxqueue', function: fn, ...(size === undefined ? {} : { size }) }, timeoutMs), 'maxqueue', server);
}
