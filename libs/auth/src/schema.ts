import { bigserial, index, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * API keys. Only a SHA-256 digest of each key is stored: keys are 256-bit random strings, so a fast digest is as
 * strong as a slow password hash here, and it lets a request's key be found with one indexed lookup.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    /** Public id (`key_…`), used to list and revoke; never enough to authenticate. */
    id: text('id').primaryKey(),
    tenant: text('tenant').notNull(),
    name: text('name').notNull(),
    /** Subset of `ingest`, `query`, `admin`. */
    scopes: text('scopes').array().notNull(),
    /** Hex SHA-256 of the whole key. */
    secretHash: text('secret_hash').notNull(),
    /** The key's first characters, to recognise it in listings. */
    prefix: text('prefix').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'string' }),
  },
  (t) => [uniqueIndex('api_keys_secret_hash_key').on(t.secretHash), index('api_keys_tenant_idx').on(t.tenant)],
);

/**
 * The security audit log: refused webhooks, key management, quarantine decisions. Append-only; `tenant` is null when
 * the request could not be tied to one (an unknown webhook source).
 */
export const securityAudit = pgTable(
  'security_audit',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    tenant: text('tenant'),
    /** Who acted: a key id, `webhook:<source>`, or `cli`. */
    actor: text('actor'),
    /** What happened, e.g. `webhook.refused`, `key.created`, `quarantine.rejected`. */
    action: text('action').notNull(),
    /** A stable code (the problem code of a refusal). */
    code: text('code'),
    detail: jsonb('detail'),
  },
  (t) => [
    index('security_audit_tenant_at_idx').on(t.tenant, t.at),
    index('security_audit_action_at_idx').on(t.action, t.at),
  ],
);
