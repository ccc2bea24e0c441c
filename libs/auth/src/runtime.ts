import { AuditLog, type AuditLogOptions } from './audit.ts';
import { migrateAuthStore, openAuthStore, type AuthStore } from './db.ts';
import { BOOTSTRAP_TENANT } from './env.ts';
import { ApiKeyStore } from './keys.ts';

/** Options of {@link openAuth}. */
export interface OpenAuthOptions {
  readonly url: string;
  readonly schema?: string;
  /** A key to register as an `admin` key of tenant `default` (idempotent). */
  readonly bootstrapKey?: string;
  readonly cacheSeconds?: number;
  readonly applicationName?: string;
  readonly audit?: AuditLogOptions;
  /** Told what happened to the bootstrap key. */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
}

/** What a service needs for authentication: the key store, the audit log, and their pool. */
export interface AuthRuntime {
  readonly store: AuthStore;
  readonly keys: ApiKeyStore;
  readonly audit: AuditLog;
  /** Writes the queued audit records, then closes the pool. */
  close(): Promise<void>;
}

/**
 * Opens the key and audit tables, applies their migrations (under a lock, so services starting together agree), and
 * registers the bootstrap key.
 */
export async function openAuth(options: OpenAuthOptions): Promise<AuthRuntime> {
  const store = openAuthStore({
    url: options.url,
    schema: options.schema,
    max: 4,
    applicationName: options.applicationName,
  });
  try {
    await migrateAuthStore(store);
    const keys = new ApiKeyStore(store, { cacheSeconds: options.cacheSeconds });
    const audit = new AuditLog(store, options.audit);
    if (options.bootstrapKey !== undefined) {
      const { created, info } = await keys.createWithSecret(options.bootstrapKey, {
        tenant: BOOTSTRAP_TENANT,
        scopes: ['admin'],
        name: 'bootstrap (TIDEWAY_BOOTSTRAP_KEY)',
      });
      if (created)
        audit.record({ tenant: BOOTSTRAP_TENANT, actor: 'bootstrap', action: 'key.created', detail: { id: info.id } });
      options.log?.(
        created
          ? 'bootstrap key registered'
          : info.revokedAt
            ? 'bootstrap key is revoked; left revoked'
            : 'bootstrap key present',
        { id: info.id, tenant: info.tenant },
      );
    }
    return {
      store,
      keys,
      audit,
      close: async () => {
        await audit.flush();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
