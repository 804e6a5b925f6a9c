import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { newToken } from '../http/auth.js';
import { tokenJson } from '../http/json.js';
import { ROLES, type Role } from '../store/types.js';
import { addConfigOption, iso, out, printJson, table, withStore, type ConfigOpts } from './context.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

export function register(program: Command): void {
  const token = program.command('token').description('Manage API tokens (the store keeps only a hash of each).');

  addConfigOption(
    token
      .command('create')
      .description('Create a token and print it once: it cannot be shown again.')
      .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
      .requiredOption('--name <name>', 'who or what uses it (shown in the audit log)')
      .option('--json', 'print JSON for scripts'),
  ).action(async (opts: ConfigOpts & { role: string; name: string; json?: boolean }) => {
    if (!(ROLES as readonly string[]).includes(opts.role)) throw new UsageError(`--role: "${opts.role}" is not a role; expected one of ${ROLES.join(', ')}`);
    if (!NAME.test(opts.name)) throw new UsageError(`--name: "${opts.name}" is not a name; expected letters, digits and _ . : @ - (at most 128)`);
    await withStore(opts, async (store, cfg) => {
      const { token: secret, hash } = newToken();
      const now = await store.clockNow();
      const t = await store.createToken({ name: opts.name, role: opts.role as Role, hash, now });
      await store.appendAudit({ at: now, actor: `cli@${cfg.node.name}`, action: 'token.create', target: t.name, detail: JSON.stringify({ role: t.role }) });
      if (opts.json) return printJson({ ...tokenJson(t), token: secret });
      out(secret);
      process.stderr.write(`token "${t.name}" (${t.role}) created; it is shown only this once\n`);
    });
  });

  addConfigOption(token.command('list').description('List tokens: names, roles, when made and revoked.').option('--json', 'print JSON for scripts')).action(
    async (opts: ConfigOpts & { json?: boolean }) => {
      await withStore(opts, async (store) => {
        const list = await store.listTokens();
        if (opts.json) return printJson(list.map(tokenJson));
        out(table(['NAME', 'ROLE', 'CREATED', 'REVOKED'], list.map((t) => [t.name, t.role, iso(t.createdAt), iso(t.revokedAt)])));
      });
    },
  );

  addConfigOption(token.command('revoke <name>').description('Revoke a token at once.')).action(async (name: string, opts: ConfigOpts) => {
    await withStore(opts, async (store, cfg) => {
      const now = await store.clockNow();
      const t = await store.revokeToken(name, now);
      await store.appendAudit({ at: now, actor: `cli@${cfg.node.name}`, action: 'token.revoke', target: t.name, detail: null });
      out(`token "${t.name}" revoked`);
    });
  });
}
