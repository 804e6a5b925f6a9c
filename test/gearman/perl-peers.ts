/**
 * Perl Gearman::Client / Gearman::Worker peers (Debian libgearman-client-perl), written to a
 * temp dir and run as real processes. Handlers return a true value: a Perl handler returning
 * "" or "0" has its job handed back again and again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const WORKER_PL = String.raw`
use strict; use warnings;
use Gearman::Worker;
$| = 1;
my ($servers, $log, $sleep, @funcs) = @ARGV;
my $w = Gearman::Worker->new(job_servers => [split /,/, $servers]);
for my $f (@funcs) {
  $w->register_function($f => sub {
    my $job = shift;
    open(my $fh, '>>', $log) or die "open $log: $!";
    print $fh join("\t", $f, $job->handle, $job->arg), "\n";
    close $fh;
    select(undef, undef, undef, $sleep) if $sleep > 0;
    return "done:" . $job->arg;
  });
}
print "registered\n";
$w->work while 1;
`;

const CLIENT_PL = String.raw`
use strict; use warnings;
use Gearman::Client;
$| = 1;
my ($servers, $func, $uniq, $count, $mode) = @ARGV;
my $c = Gearman::Client->new(job_servers => [split /,/, $servers]);
for my $i (1 .. $count) {
  my %opt = (length $uniq ? (uniq => ($count > 1 ? "$uniq-$i" : $uniq)) : ());
  if (($mode // 'bg') eq 'fg') {
    my $r = $c->do_task($func, "arg$i", \%opt);
    print defined $r ? "result\t$$r\n" : "failed\n";
  } else {
    my $h = $c->dispatch_background($func, "arg$i", \%opt);
    print defined $h ? "handle\t$h\n" : "undef\n";
  }
}
`;

let dir: string | null = null;
function scriptDir(): string {
  if (!dir) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cf-perl-gearman-'));
    writeFileSync(path.join(dir, 'worker.pl'), WORKER_PL);
    writeFileSync(path.join(dir, 'client.pl'), CLIENT_PL);
  }
  return dir;
}

export const serverList = (servers: Array<{ host: string; port: number }>): string => servers.map((s) => `${s.host}:${s.port}`).join(',');

/** A Perl worker appending `function<TAB>handle<TAB>arg` lines to `logFile` for each job. */
export function startPerlWorker(servers: Array<{ host: string; port: number }>, functions: string[], logFile: string, sleepSec = 0): ChildProcess {
  return spawn('perl', [path.join(scriptDir(), 'worker.pl'), serverList(servers), logFile, String(sleepSec), ...functions], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the Perl client to completion; resolves with its stdout lines and exit status. */
export function runPerlClient(
  servers: Array<{ host: string; port: number }>,
  fn: string,
  opts: { unique?: string; count?: number; mode?: 'bg' | 'fg' } = {},
): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const child = spawn(
    'perl',
    [path.join(scriptDir(), 'client.pl'), serverList(servers), fn, opts.unique ?? '', String(opts.count ?? 1), opts.mode ?? 'bg'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) =>
    child.on('close', (code) => resolve({ code, lines: out.split('\n').filter((l) => l !== ''), stderr: err })),
  );
}

export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
