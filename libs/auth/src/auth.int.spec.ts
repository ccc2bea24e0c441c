import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TidewayError } from '@tideway/events';
import { problemResponse } from '@tideway/service';
import { cleanupRedisPrefix, createPgSchema, redisPrefix, type PgSchema } from '@tideway/testing';
import {
  AuditLog,
  RedisRateLimiter,
  authenticate,
  openAuth,
  requireScope,
  type AuthEnv,
  type AuthRuntime,
} from './index.ts';

describe('API keys, audit and rate limits against PostgreSQL and Redis', () => {
  let pg: PgSchema;
  let auth: AuthRuntime;
  const bootstrapKey = 'bootstrap-key-for-tests-0123456789';
  beforeAll(async () => {
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    // Two services starting together migrate the same schema: the lock makes that safe.
    const [a, b] = await Promise.all([
      openAuth({ url: process.env['DATABASE_URL']!, schema: pg.schema, bootstrapKey, cacheSeconds: 0 }),
      openAuth({ url: process.env['DATABASE_URL']!, schema: pg.schema, bootstrapKey, cacheSeconds: 0 }),
    ]);
    await b.close();
    auth = a;
  });
  afterAll(async () => {
    await auth?.close();
    await pg?.drop();
  });

  it('stores only a digest, verifies keys to their tenant and scopes, and forgets revoked ones', async () => {
    const created = await auth.keys.create({ tenant: 'acme', scopes: ['ingest', 'query'], name: 'pipeline' });
    expect(created.key).toMatch(/^tw_[A-Za-z0-9_-]{43}$/);
    const [row] = await auth.store.sql`select * from api_keys where id = ${created.id}`;
    expect(JSON.stringify(row)).not.toContain(created.key);
    expect(await auth.keys.verify(created.key)).toEqual({
      tenant: 'acme',
      keyId: created.id,
      scopes: ['ingest', 'query'],
      anonymous: false,
    });
    expect(await auth.keys.verify(`${created.key}x`)).toBeUndefined();
    await auth.keys.revoke(created.id, 'acme');
    expect(await auth.keys.verify(created.key)).toBeUndefined();
    await expect(auth.keys.revoke(created.id, 'other')).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });

  it('registers the bootstrap key once, as an admin key of tenant default', async () => {
    const keys = await auth.keys.list('default');
    expect(keys.filter((k) => k.name.startsWith('bootstrap'))).toHaveLength(1);
    expect(await auth.keys.verify(bootstrapKey)).toMatchObject({ tenant: 'default', scopes: ['admin'] });
  });

  it('answers 401 without a valid key and 403 without the scope or for another tenant', async () => {
    const ingestOnly = await auth.keys.create({ tenant: 'acme', scopes: ['ingest'] });
    const app = new Hono<AuthEnv>();
    app.onError((error, c) => problemResponse(c, error));
    app.use(
      '/v1/*',
      authenticate({
        mode: 'required',
        keys: auth.keys,
        defaultTenant: 'default',
        acceptBasic: true,
        tenantQueryParam: 'tenant',
      }),
    );
    app.get('/v1/read', requireScope('query'), (c) => c.json({ tenant: c.req.query('tenant') }));
    app.get('/v1/write', requireScope('ingest'), (c) => c.json({ tenant: c.var.principal.tenant }));
    const call = (path: string, authorization?: string) =>
      app.request(path, { headers: authorization ? { authorization } : {} });

    const none = await call('/v1/read');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect(((await none.json()) as { code: string }).code).toBe(ErrorCode.Unauthorized);
    expect((await call('/v1/read', 'Bearer nope')).status).toBe(401);
    expect((await call('/v1/read', `Bearer ${ingestOnly.key}`)).status).toBe(403);
    const basic = `Basic ${Buffer.from(`${ingestOnly.key}:`).toString('base64')}`;
    expect(await (await call('/v1/write', basic)).json()).toEqual({ tenant: 'acme' });
    // The bootstrap admin reads its own tenant; naming another is refused.
    expect(await (await call('/v1/read', `Bearer ${bootstrapKey}`)).json()).toEqual({ tenant: 'default' });
    const other = await call('/v1/read?tenant=acme', `Bearer ${bootstrapKey}`);
    expect(other.status).toBe(403);
    expect(((await other.json()) as { code: string }).code).toBe(ErrorCode.TenantMismatch);
  });

  it('writes audit records in the background and lists them newest first', async () => {
    const audit = new AuditLog(auth.store);
    audit.record({ tenant: 'acme', actor: 'webhook:gh', action: 'webhook.refused', code: 'webhook-signature-invalid' });
    audit.record({ tenant: null, actor: 'webhook:nope', action: 'webhook.refused', code: 'webhook-unknown-source' });
    await audit.flush();
    const records = await audit.list({ action: 'webhook.refused' });
    expect(records.map((r) => r.code)).toEqual(['webhook-unknown-source', 'webhook-signature-invalid']);
    expect(await audit.list({ tenant: 'acme', action: 'webhook.refused' })).toHaveLength(1);
  });

  it('shares one token bucket per key between replicas, and says when to retry', async () => {
    const prefix = redisPrefix();
    const [a, b] = [new Redis(process.env['REDIS_URL']!), new Redis(process.env['REDIS_URL']!)];
    try {
      const options = { ratePerSecond: 0.5, burst: 4, prefix };
      const replicas = [new RedisRateLimiter(a, options), new RedisRateLimiter(b, options)];
      const decisions = [];
      for (let i = 0; i < 6; i++) decisions.push(await replicas[i % 2]!.take('key_1'));
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, false, false]);
      expect(decisions[4]!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect((await replicas[0]!.take('key_2')).allowed).toBe(true);
    } finally {
      a.disconnect();
      b.disconnect();
      await cleanupRedisPrefix(process.env['REDIS_URL']!, prefix);
    }
  });

  it('refuses bad scopes and tenants with problem codes', async () => {
    await expect(auth.keys.create({ tenant: 'acme', scopes: ['root'] })).rejects.toBeInstanceOf(TidewayError);
    await expect(auth.keys.create({ tenant: 'Bad Tenant', scopes: ['query'] })).rejects.toMatchObject({
      code: ErrorCode.InvalidBody,
    });
  });
});
