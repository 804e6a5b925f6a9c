/**
 * The process launcher's helper (see launcher.ts): started by a node with an IPC channel, it
 * forks tasks on request and sends back what becomes of them. It lives as long as that channel.
 */
import { GATE_DISCARDED_STATUS, NO_PROCESS, inlineLauncher } from './launcher.js';
import type { HelperReply, HelperRequest, Launch, LaunchSpec } from './launcher.js';

interface Held {
  launch: Launch;
  /** Paused on the node's request (its log file lags), or while the channel to the node is backed up. */
  byNode: boolean;
  byChannel: boolean;
}

function serve(): void {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write('cronfleet launcher helper: no IPC channel; it is started by a node, not by hand\n');
    process.exit(2);
  }
  const held = new Map<number, Held>();
  // A reply can meet a channel the node has just closed (it was killed): the send then fails
  // with EPIPE, which without a callback is thrown as an 'error' event and would crash this
  // helper mid-spawn. The failure is ignored: 'disconnect' follows and ends the helper.
  const reply = (m: HelperReply, cb?: () => void): boolean => send(m, undefined, undefined, () => cb?.());
  const update = (h: Held): void => (h.byNode || h.byChannel ? h.launch.pause() : h.launch.resume());

  const start = (id: number, spec: LaunchSpec, gated: boolean): void => {
    const h: Held = { launch: NO_PROCESS, byNode: false, byChannel: false };
    held.set(id, h);
    h.launch = inlineLauncher.launch(
      spec,
      {
        spawned: (pid, at) => reply({ op: 'spawned', id, pid, at }),
        output: (fd, chunk) => {
          // When the channel is backed up, this task's output waits in its pipe, not in memory.
          const flowing = reply({ op: 'output', id, fd, chunk }, () => {
            if (!h.byChannel) return;
            h.byChannel = false;
            update(h);
          });
          if (!flowing && !h.byChannel) {
            h.byChannel = true;
            update(h);
          }
        },
        failed: (message) => {
          held.delete(id);
          reply({ op: 'failed', id, message });
        },
        closed: (code, signal) => {
          held.delete(id);
          reply({ op: 'closed', id, code, signal });
        },
      },
      gated,
    );
  };

  // Gated launches are forked ahead of their instant, one per turn of the event loop, so that a
  // release (a pipe write) never waits behind a batch of forks claimed together: the node's
  // messages are read between two forks, and releases are carried out as they arrive.
  const gatesToFork = new Map<number, LaunchSpec>();
  const forkNextGate = (): void => {
    const next = gatesToFork.entries().next();
    if (next.done) return;
    const [id, spec] = next.value;
    gatesToFork.delete(id);
    start(id, spec, true);
    if (gatesToFork.size > 0) setImmediate(forkNextGate);
  };

  process.on('message', (m: HelperRequest) => {
    if (m.op === 'spawn') {
      if (!m.gated) return start(m.id, m.spec, false);
      gatesToFork.set(m.id, m.spec);
      if (gatesToFork.size === 1) setImmediate(forkNextGate);
      return;
    }
    const queued = gatesToFork.get(m.id);
    if (queued && (m.op === 'release' || m.op === 'discard')) {
      // Released or discarded before its gate was forked: it starts now without one, or not at all.
      gatesToFork.delete(m.id);
      if (m.op === 'release') start(m.id, queued, false);
      else reply({ op: 'closed', id: m.id, code: GATE_DISCARDED_STATUS, signal: null });
      return;
    }
    const h = held.get(m.id);
    if (!h) return;
    if (m.op === 'release') return h.launch.release();
    if (m.op === 'discard') return h.launch.discard();
    h.byNode = m.op === 'pause';
    update(h);
  });

  // Signals meant for the node (Ctrl-C reaches the whole foreground group) are not for the helper:
  // the node decides when its tasks stop. It goes when the node does, with its channel.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});
  process.on('disconnect', () => process.exit(0));
}

serve();
