import type { Command } from 'commander';
import { NotFoundError } from '../errors.js';
import type { NodeRecord } from '../store/types.js';
import { addConfigOption, iso, out, printJson, table, withStore, type ConfigOpts } from './context.js';

/** A node is alive while its last heartbeat is within the node TTL of the store's clock. */
export function nodeToJson(n: NodeRecord, now: number, nodeTtlMs: number) {
  const alive = now - n.heartbeatAt <= nodeTtlMs;
  return {
    name: n.name,
    host: n.host,
    pid: n.pid,
    version: n.version,
    state: (!alive ? 'dead' : n.draining ? 'draining' : 'alive') as 'dead' | 'draining' | 'alive',
    alive,
    draining: n.draining,
    tasks: n.tasks,
    tags: n.tags,
    running: n.running,
    // Of those, the tasks executing at its last heartbeat (the rest wait for their instant).
    executing: n.executing,
    scheduler: n.scheduler,
    startedAt: iso(n.startedAt)!,
    heartbeatAt: iso(n.heartbeatAt)!,
    heartbeatAgeMs: now - n.heartbeatAt,
    clockSkewMs: n.clockSkewMs,
  };
}

export function register(program: Command): void {
  addConfigOption(
    program
      .command('nodes')
      .description('List the nodes registered in the store, with liveness (heartbeat within cluster.nodeTtl), load and clock skew.')
      .option('--json', 'print JSON for scripts'),
  ).action(async (opts: ConfigOpts & { json?: boolean }) => {
    await withStore(opts, async (store, cfg) => {
      const now = await store.clockNow();
      const nodes = (await store.listNodes()).map((n) => nodeToJson(n, now, cfg.cluster.nodeTtlMs));
      if (opts.json) return printJson(nodes);
      out(
        table(
          ['NAME', 'STATE', 'HOST', 'RUNNING', 'TASKS', 'TAGS', 'HEARTBEAT', 'SKEW'],
          nodes.map((n) => [n.name, n.state, n.host, n.running, n.tasks.join(','), n.tags.join(',') || null, `${Math.round(n.heartbeatAgeMs / 1000)}s ago`, `${n.clockSkewMs}ms`]),
        ),
      );
    });
  });

  for (const [verb, draining] of [['drain', true], ['undrain', false]] as const) {
    addConfigOption(
      program
        .command(`${verb} <node>`)
        .description(
          draining
            ? 'Stop a node from claiming new runs (its running ones finish); other nodes take its share at once.'
            : 'Let a drained node claim runs again.',
        )
        .option('--json', 'print the node as JSON'),
    ).action(async (name: string, opts: ConfigOpts & { json?: boolean }) => {
      await withStore(opts, async (store, cfg) => {
        if (!(await store.listNodes()).some((n) => n.name === name)) throw new NotFoundError('node', name);
        await store.setDraining(name, draining);
        const node = (await store.listNodes()).find((n) => n.name === name)!;
        if (opts.json) return printJson(nodeToJson(node, await store.clockNow(), cfg.cluster.nodeTtlMs));
        out(`${name}: ${draining ? 'draining (no new runs; takes effect at its next heartbeat)' : 'claiming runs again'}`);
      });
    });
  }
}
