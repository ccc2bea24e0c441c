import { parseArgs } from 'node:util';
import { openAuth } from '@tideway/auth';
import { isTidewayError } from '@tideway/events';

export const KEYS_USAGE = `usage: tideway keys <create --tenant <t> --scopes <ingest,query,admin> [--name <n>] | list [--tenant <t>] | revoke <id>>

  create    creates an API key and prints it (shown once; only its SHA-256 is stored)
  list      keys with their tenant, scopes, prefix and state (never the secret)
  revoke    revokes a key (effective within TIDEWAY_KEY_CACHE_SECONDS on every replica)

Talks to PostgreSQL directly (DATABASE_URL, DATABASE_SCHEMA), so it manages keys of any tenant; the admin API
(POST/GET/DELETE /v1/keys) manages the keys of the caller's own tenant.`;

/** `tideway keys …`. */
export async function keysCommand(
  argv: string[],
  config: { DATABASE_URL: string; DATABASE_SCHEMA: string },
): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (!sub || !['create', 'list', 'revoke'].includes(sub)) {
    console.error(KEYS_USAGE);
    return 2;
  }
  const auth = await openAuth({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    applicationName: 'tideway-cli',
  });
  try {
    if (sub === 'create') {
      if (!values.tenant || !values.scopes) {
        console.error(KEYS_USAGE);
        return 2;
      }
      const created = await auth.keys.create({
        tenant: values.tenant,
        scopes: values.scopes.split(','),
        name: values.name ?? '',
      });
      auth.audit.record({
        tenant: created.tenant,
        actor: 'cli',
        action: 'key.created',
        detail: { id: created.id, scopes: created.scopes },
      });
      console.log(created.key);
      console.error(
        `created ${created.id} for tenant ${created.tenant} with scopes ${created.scopes.join(',')} (the key above is shown only now)`,
      );
    } else if (sub === 'list') {
      for (const k of await auth.keys.list(values.tenant)) {
        console.log(
          `${k.id.padEnd(22)} ${k.tenant.padEnd(16)} ${k.scopes.join(',').padEnd(20)} ${`${k.prefix}…`.padEnd(12)} ${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}  ${k.name}`,
        );
      }
    } else {
      const [id] = positionals;
      if (!id) {
        console.error(KEYS_USAGE);
        return 2;
      }
      const revoked = await auth.keys.revoke(id);
      auth.audit.record({ tenant: revoked.tenant, actor: 'cli', action: 'key.revoked', detail: { id } });
      console.log(`revoked ${revoked.id} (tenant ${revoked.tenant})`);
    }
    return 0;
  } catch (error) {
    if (!isTidewayError(error)) throw error;
    console.error(`tideway keys: ${error.message}`);
    return 1;
  } finally {
    await auth.close();
  }
}
