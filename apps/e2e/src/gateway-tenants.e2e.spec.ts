import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@tideway/testing';
import { createKey, postJson, readStream, send, startGateway } from './gateway-support.ts';
import { sensorEvents, type Platform } from './platform.ts';

describe('tenants and keys: a key writes and reads only its own tenant', () => {
  let platform: Platform;
  let acme: string;
  let beta: string;
  let acmeIngestOnly: string;
  beforeAll(async () => {
    platform = await startGateway({
      projector: true,
      env: { INGEST_RATE_LIMIT_PER_SECOND: '1', INGEST_RATE_LIMIT_BURST: '60' },
    });
    acme = await createKey(platform, 'acme', ['ingest', 'query']);
    beta = await createKey(platform, 'beta', ['ingest', 'query']);
    acmeIngestOnly = await createKey(platform, 'acme', ['ingest']);
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  const events = (url: string) => `${url}/v1/events`;

  it('answers 401 without a key or with an unknown one, on ingest and query alike', async () => {
    for (const url of [platform.ingestUrl, platform.queryUrl]) {
      const post = url === platform.ingestUrl;
      const request = {
        method: post ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json' },
        ...(post ? { body: '{}' } : {}),
      };
      const none = await send(events(url), request);
      expect(none.status, url).toBe(401);
      expect(none.headers.get('www-authenticate')).toContain('Bearer');
      expect(none.body.type).toBe('https://tideway.dev/problems/unauthorized');
      const wrong = await send(events(url), { ...request, key: 'tw_not_a_key_at_all_0000000000' });
      expect(wrong.status, url).toBe(401);
    }
  });

  it('stamps the key’s tenant on events and refuses one naming another tenant (403, nothing stored)', async () => {
    const a = await postJson(events(platform.ingestUrl), sensorEvents(3, 'acme'), acme);
    expect([a.status, a.body.created]).toEqual([202, 3]);
    const b = await postJson(events(platform.ingestUrl), sensorEvents(2, 'beta'), beta);
    expect([b.status, b.body.created]).toEqual([202, 2]);
    const before = (await readStream(platform, 'EVENTS')).length;
    const intruder = await postJson(
      events(platform.ingestUrl),
      [sensorEvents(1, 'x')[0], { ...sensorEvents(1, 'y')[0], tenant: 'beta' }],
      acme,
    );
    expect([intruder.status, intruder.body.code]).toEqual([403, 'tenant-mismatch']);
    const stored = await readStream(platform, 'EVENTS');
    expect(stored.length).toBe(before);
    expect(
      stored
        .filter((m) => m.data.tenant === 'beta')
        .map((m) => m.data.id)
        .sort(),
    ).toEqual(['beta-0', 'beta-1']);
    expect(
      stored
        .filter((m) => m.data.tenant === 'acme')
        .map((m) => m.data.id)
        .sort(),
    ).toEqual(['acme-0', 'acme-1', 'acme-2']);
    expect(stored.every((m) => m.subject.split('.')[2] === m.data.tenant)).toBe(true);
  });

  it('reads only the key’s tenant through the query API; another tenant is 403, its events are invisible', async () => {
    await waitFor(async () => (await platform.reader.count()) >= 5, { timeoutMs: 30_000 });
    const mine = await send(`${events(platform.queryUrl)}?limit=100`, { key: acme });
    expect(mine.status).toBe(200);
    expect(mine.body.items.map((i: any) => i.event.id).sort()).toEqual(['acme-0', 'acme-1', 'acme-2']);
    const theirs = await send(`${events(platform.queryUrl)}?tenant=beta`, { key: acme });
    expect([theirs.status, theirs.body.code]).toEqual([403, 'tenant-mismatch']);
    const byId = await send(`${events(platform.queryUrl)}/beta-0`, { key: acme });
    expect(byId.status).toBe(404);
    const own = await send(`${events(platform.queryUrl)}/beta-0`, { key: beta });
    expect(own.status).toBe(200);
  });

  it('answers 403 for a key without the route’s scope', async () => {
    const read = await send(events(platform.queryUrl), { key: acmeIngestOnly });
    expect([read.status, read.body.code]).toEqual([403, 'forbidden']);
    const admin = await send(`${platform.ingestUrl}/v1/keys`, { key: acme });
    expect(admin.status).toBe(403);
  });

  it('lets the bootstrap admin create, list and revoke keys of its own tenant only', async () => {
    const created = await postJson(
      `${platform.ingestUrl}/v1/keys`,
      { name: 'ci', scopes: ['ingest'] },
      platform.apiKey,
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ tenant: 'default', scopes: ['ingest'], key: expect.stringMatching(/^tw_/) });
    const other = await postJson(
      `${platform.ingestUrl}/v1/keys`,
      { scopes: ['ingest'], tenant: 'acme' },
      platform.apiKey,
    );
    expect(other.status).toBe(403);
    const listed = await send(`${platform.ingestUrl}/v1/keys`, { key: platform.apiKey });
    expect(listed.body.items.map((k: any) => k.id)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect((await postJson(events(platform.ingestUrl), sensorEvents(1, 'ci'), created.body.key)).status).toBe(202);
    const revoked = await send(`${platform.ingestUrl}/v1/keys/${created.body.id}`, {
      method: 'DELETE',
      key: platform.apiKey,
    });
    expect(revoked.body.revokedAt).not.toBeNull();
    await waitFor(
      async () => (await postJson(events(platform.ingestUrl), sensorEvents(1, 'ci2'), created.body.key)).status === 401,
      { timeoutMs: 10_000 },
    );
    const audit = await send(`${platform.ingestUrl}/v1/audit?action=key.revoked`, { key: platform.apiKey });
    expect(audit.body.items[0]).toMatchObject({ action: 'key.revoked', detail: { id: created.body.id } });
  });

  it('rate-limits each key in Redis: 429 with Retry-After once its bucket is empty, other keys unaffected', async () => {
    const limited = await createKey(platform, 'gamma', ['ingest']);
    // 1 request/s sustained and a burst of 60: spend the burst, then the next request is refused.
    const redisUrl = platform.env['REDIS_URL']!;
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl);
    try {
      const keys = await redis.keys(`${platform.env['INGEST_REDIS_PREFIX']!}rl:*`);
      expect(keys.length).toBeGreaterThan(0); // the earlier requests drew from per-key buckets
      let status = 0;
      let retryAfter: string | null = null;
      for (let i = 0; i < 200 && status !== 429; i++) {
        const res = await send(events(platform.ingestUrl), {
          method: 'POST',
          key: limited,
          headers: { 'content-type': 'application/json' },
          body: '[]',
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
      }
      expect(status).toBe(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      const other = await postJson(events(platform.ingestUrl), sensorEvents(1, 'other'), acme);
      expect(other.status).toBe(202);
    } finally {
      redis.disconnect();
    }
  });
});
