#!/usr/bin/env node
// Wall time of `rcron` on the passive path against a bare `node -e 0`, median of 30 runs each,
// interleaved so both see the same machine load. Prints one JSON line. Target: ratio <= 1.5.
// Needs a build (npx tsc -p tsconfig.json). A datagram socket is bound so the passive path
// does its real syslog send.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const RUNS = 30;
const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'cf-bench-rcron-'));
const sockPath = join(dir, 'log');
const sock = createRequire(import.meta.url)('unix-dgram').createSocket('unix_dgram');
let received = 0;
sock.on('message', () => received++);
sock.bind(sockPath);
writeFileSync(join(dir, 'state'), 'passive\n');
const conf = join(dir, 'rcron.conf');
writeFileSync(conf, `cluster_name = bench\nstate_file = ${join(dir, 'state')}\nsyslog_socket = ${sockPath}\njournal_dir = ${join(dir, 'journal')}\n`);

// Async spawn keeps this process reading the socket: the kernel queues only max_dgram_qlen
// datagrams (10 by default), and a full queue would make rcron wait at close.
function time(args) {
  return new Promise((resolvePromise, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}`));
      else resolvePromise(ms);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

const rcron = [];
const node = [];
await time(['-e', '0']); // warm the file cache for both before measuring
await time([join(root, 'bin/rcron.js'), '--conf', conf, 'true']);
for (let i = 0; i < RUNS; i++) {
  node.push(await time(['-e', '0']));
  rcron.push(await time([join(root, 'bin/rcron.js'), '--conf', conf, 'true']));
}
const rcronMs = median(rcron);
const nodeMs = median(node);
sock.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({
  bench: 'rcron-passive',
  runs: RUNS,
  rcron_passive_median_ms: Number(rcronMs.toFixed(2)),
  node_e0_median_ms: Number(nodeMs.toFixed(2)),
  ratio: Number((rcronMs / nodeMs).toFixed(3)),
  target_ratio: 1.5,
  syslog_lines_received: received,
}));
