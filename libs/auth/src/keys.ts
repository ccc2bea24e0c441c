import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, isNull } from 'drizzle-orm';
import { ErrorCode, TenantSchema, TidewayError } from '@tideway/events';
import type { AuthStore } from './db.ts';
import { apiKeys } from './schema.ts';
import { ScopeSchema, type Principal, type Scope } from './scopes.ts';

/** A key as listed: everything but the secret. */
export interface ApiKeyInfo {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  /** The first characters of the key, to recognise it. */
  readonly prefix: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

/** A newly created key: the only time its secret is shown. */
export interface CreatedApiKey extends ApiKeyInfo {
  readonly key: string;
}

/** Options of {@link ApiKeyStore}. */
export interface ApiKeyStoreOptions {
  /** How long a verified (or unknown) key is remembered in this process. Revocations elsewhere take this long. */
  readonly cacheSeconds?: number;
  /** Most cached keys; the cache is cleared when full. */
  readonly cacheSize?: number;
  readonly now?: () => number;
}

/** The shortest key `createWithSecret` (the bootstrap key) accepts. */
export const MIN_KEY_LENGTH = 16;

/** Hex SHA-256 of a key: what is stored and looked up. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A fresh key: `tw_` and 43 base64url characters (256 random bits). */
export function generateKey(): string {
  return `tw_${randomBytes(32).toString('base64url')}`;
}

function newKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}

function toInfo(row: typeof apiKeys.$inferSelect): ApiKeyInfo {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    scopes: row.scopes as Scope[],
    prefix: row.prefix,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
  };
}

function checkScopes(scopes: readonly string[]): Scope[] {
  if (scopes.length === 0) throw new TidewayError(ErrorCode.InvalidBody, 'a key needs at least one scope');
  return [...new Set(scopes)].map((scope) => {
    const parsed = ScopeSchema.safeParse(scope);
    if (!parsed.success)
      throw new TidewayError(ErrorCode.InvalidBody, `unknown scope "${scope}" (ingest, query, admin)`);
    return parsed.data;
  });
}

function checkTenant(tenant: string): string {
  if (!TenantSchema.safeParse(tenant).success)
    throw new TidewayError(ErrorCode.InvalidBody, `invalid tenant "${tenant}"`);
  return tenant;
}

/**
 * API keys in PostgreSQL, hashed, each bound to one tenant and a set of scopes. Verification is one indexed lookup,
 * cached per process for a few seconds.
 */
export class ApiKeyStore {
  private readonly cache = new Map<string, { principal: Principal | undefined; until: number }>();
  private readonly cacheMs: number;
  private readonly cacheSize: number;
  private readonly now: () => number;

  constructor(
    private readonly store: AuthStore,
    options: ApiKeyStoreOptions = {},
  ) {
    this.cacheMs = (options.cacheSeconds ?? 5) * 1000;
    this.cacheSize = options.cacheSize ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Creates a key with a generated secret. */
  async create(input: { tenant: string; scopes: readonly string[]; name?: string }): Promise<CreatedApiKey> {
    const key = generateKey();
    const info = await this.insert(key, input);
    return { ...info, key };
  }

  /**
   * Registers a key whose secret the operator chose (`TIDEWAY_BOOTSTRAP_KEY`). Idempotent: when the key exists it is
   * left as it is — a revoked bootstrap key stays revoked — and `created` is false.
   */
  async createWithSecret(
    key: string,
    input: { tenant: string; scopes: readonly string[]; name?: string },
  ): Promise<{ created: boolean; info: ApiKeyInfo }> {
    if (key.length < MIN_KEY_LENGTH) throw new Error(`a key must be at least ${MIN_KEY_LENGTH} characters`);
    const find = async () =>
      (
        await this.store.db
          .select()
          .from(apiKeys)
          .where(eq(apiKeys.secretHash, hashKey(key)))
      )[0];
    const existing = await find();
    if (existing) return { created: false, info: toInfo(existing) };
    try {
      return { created: true, info: await this.insert(key, input) };
    } catch (error) {
      // Services starting together race to register the same key: the loser finds the winner's row.
      const winner = await find();
      if (winner) return { created: false, info: toInfo(winner) };
      throw error;
    }
  }

  private async insert(
    key: string,
    input: { tenant: string; scopes: readonly string[]; name?: string },
  ): Promise<ApiKeyInfo> {
    const [row] = await this.store.db
      .insert(apiKeys)
      .values({
        id: newKeyId(),
        tenant: checkTenant(input.tenant),
        name: input.name ?? '',
        scopes: checkScopes(input.scopes),
        secretHash: hashKey(key),
        prefix: key.slice(0, 8),
      })
      .onConflictDoNothing({ target: apiKeys.secretHash })
      .returning();
    if (!row) throw new TidewayError(ErrorCode.Conflict, 'this key already exists');
    return toInfo(row);
  }

  /** Keys of a tenant (every tenant when omitted), oldest first, revoked ones included. */
  async list(tenant?: string): Promise<ApiKeyInfo[]> {
    const rows = await this.store.db
      .select()
      .from(apiKeys)
      .where(tenant === undefined ? undefined : eq(apiKeys.tenant, tenant))
      .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
    return rows.map(toInfo);
  }

  /**
   * Revokes a key; with `tenant`, only a key of that tenant (another tenant's key is reported as not found).
   * @throws TidewayError `not-found`.
   */
  async revoke(id: string, tenant?: string): Promise<ApiKeyInfo> {
    const conditions = [eq(apiKeys.id, id), ...(tenant === undefined ? [] : [eq(apiKeys.tenant, tenant)])];
    const [row] = await this.store.db
      .update(apiKeys)
      .set({ revokedAt: new Date().toISOString() })
      .where(and(...conditions, isNull(apiKeys.revokedAt)))
      .returning();
    if (row) {
      for (const [hash, entry] of this.cache) if (entry.principal?.keyId === id) this.cache.delete(hash);
      return toInfo(row);
    }
    const [existing] = await this.store.db
      .select()
      .from(apiKeys)
      .where(and(...conditions));
    if (existing) return toInfo(existing);
    throw new TidewayError(ErrorCode.NotFound, `no key ${id}`);
  }

  /** The principal of a key, `undefined` when the key is unknown or revoked. */
  async verify(key: string): Promise<Principal | undefined> {
    const hash = hashKey(key);
    const now = this.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const [row] = await this.store.db
      .select({ id: apiKeys.id, tenant: apiKeys.tenant, scopes: apiKeys.scopes, revokedAt: apiKeys.revokedAt })
      .from(apiKeys)
      .where(eq(apiKeys.secretHash, hash));
    const principal =
      row && row.revokedAt === null
        ? { tenant: row.tenant, keyId: row.id, scopes: row.scopes as Scope[], anonymous: false }
        : undefined;
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(hash, { principal, until: now + this.cacheMs });
    return principal;
  }
}
