/**
 * Behaviour of the Perl peers that cronfleet has to live with, pinned against the real
 * libgearman-client-perl and gearmand, each next to what our side does instead.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GearmanClient } from '../../src/gearman/client.js';
import { PacketDecoder, encodeRequest } from '../../src/gearman/protocol.js';
import { startGearmand, waitFor, type Gearmand } from '../helpers/gearmand.js';
import { stopProcess } from './perl-peers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cf-perl-quirks-'));

// Handler returns its first argument verbatim: "0" here.
const FALSY_WORKER = String.raw`
use strict; use warnings;
use Gearman::Worker;
$| = 1;
my ($server, $ret) = @ARGV;
my $w = Gearman::Worker->new(job_servers => [$server]);
$w->register_function(quirk_falsy => sub { print "run ", $_[0]->handle, "\n"; return $ret; });
$w->work while 1;
`;

// Submits one job per line read on stdin (the line is its unique id), reusing the same client (and its cached socket).
const HOLDING_CLIENT = String.raw`
use strict; use warnings;
use Gearman::Client;
$| = 1;
my ($servers) = @ARGV;
my $c = Gearman::Client->new(job_servers => [split /,/, $servers]);
while (my $line = <STDIN>) {
  chomp $line;
  my $h = eval { $c->dispatch_background("quirk_hold", "x", { uniq => $line }) };
  print defined $h ? "ok $h\n" : "error " . ($@ || "undef") . "\n";
}
`;

let gd: Gearmand;
beforeAll(async () => {
  writeFileSync(path.join(dir, 'falsy.pl'), FALSY_WORKER);
  writeFileSync(path.join(dir, 'hold.pl'), HOLDING_CLIENT);
  gd = await startGearmand();
});
afterAll(async () => {
  await gd?.stop();
});

describe('Perl Gearman::Worker', () => {
  it('a handler returning "0" sends WORK_COMPLETE without its data argument, so the job comes back again and again', async () => {
    const proc = spawn('perl', [path.join(dir, 'falsy.pl'), `${gd.host}:${gd.port}`, '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const client = new GearmanClient({ servers: [gd] });
    try {
      await client.submitBackground('quirk_falsy', 'x', { unique: 'falsy-1' });
      await waitFor(() => out.split('\n').filter((l) => l.startsWith('run ')).length >= 3, 'the same job delivered three times');
      const handles = new Set(out.split('\n').filter((l) => l.startsWith('run ')));
      expect(handles.size).toBe(1);
    } finally {
      client.close();
      await stopProcess(proc);
    }
    // Perl's _job_request joins the result only when it is true, so "0" yields a body of just
    // the handle: a WORK_COMPLETE missing its data argument, which gearmand drops the worker for.
    const perlFrame = Buffer.concat([Buffer.from('005245510000000d00000006', 'hex'), Buffer.from('H:vm:1')]);
    expect(() => new PacketDecoder({ expect: 'REQ' }).push(perlFrame)).toThrow(/WORK_COMPLETE is missing argument data/);
    expect(new PacketDecoder({ expect: 'REQ' }).push(encodeRequest('WORK_COMPLETE', ['H:vm:1', '']))[0]!.args).toHaveLength(2);
  });
});

describe('Perl Gearman::Client', () => {
  it('with a unique id, a held connection to a server that died fails the next submit; ours fails over', async () => {
    const other = await startGearmand();
    const victim = await startGearmand();
    const servers = [other, victim];
    const { perlServerIndex } = await import('../../src/gearman/client.js');
    // Two ids that Perl sends to the victim (index 1). crc32 is linear, so ids differing only in
    // their last character may never both land there: search each on its own, bounded.
    const toVictim = Array.from({ length: 64 }, (_, i) => `hold-${i}`).filter((u) => perlServerIndex(u, 2) === 1);
    expect(toVictim.length).toBeGreaterThanOrEqual(2);
    const [u1, u2] = toVictim as [string, string];
    const perl = spawn('perl', [path.join(dir, 'hold.pl'), servers.map((s) => `${s.host}:${s.port}`).join(',')], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    perl.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ours = new GearmanClient({ servers, connectTimeoutMs: 2000, requestTimeoutMs: 5000 });
    try {
      perl.stdin.write(`${u1}\n`);
      await waitFor(() => out.includes('\n'), 'first Perl submit');
      // Perl prefixes the handle with the server it chose: the same one as ours below.
      expect(out).toMatch(new RegExp(`^ok 127\\.0\\.0\\.1:${victim.port}//H:`));
      const first = await ours.submitBackground('quirk_hold', 'x', { unique: u1 });
      expect(first.server.port).toBe(victim.port);
      await victim.kill();
      perl.stdin.write(`${u2}\n`);
      await waitFor(() => out.split('\n').length >= 3, 'second Perl submit');
      expect(out.split('\n')[1]).toMatch(/^error reading response packet failed: eof/);
      const second = await ours.submitBackground('quirk_hold', 'x', { unique: u2 });
      expect(second.server.port).toBe(other.port);
    } finally {
      ours.close();
      perl.stdin.end();
      await stopProcess(perl);
      await victim.stop();
      await other.stop();
    }
  });
});
