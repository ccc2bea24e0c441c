import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from './platform.ts';

describe('query API with API keys required', () => {
  let platform: Platform;
  beforeAll(async () => {
    platform = await startPlatform({ projector: false, env: { TIDEWAY_AUTH: 'required' } });
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  const get = (path: string, key?: string) => fetch(`${platform.queryUrl}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('reads the key’s tenant, refuses other tenants and anonymous callers, and keeps /openapi.json and /docs public', async () => {
    for (const path of ['/v1/events', '/v1/aggregates/windows?pipeline=p', '/v1/alerts', '/v1/catalog/projections', '/v1/stream']) {
      const anonymous = await get(path);
      expect(anonymous.status, path).toBe(401);
      await anonymous.body?.cancel();
      const other = await get(`${path}${path.includes('?') ? '&' : '?'}tenant=other`, platform.apiKey);
      expect(other.status, path).toBe(403);
      expect(((await other.json()) as { code: string }).code).toBe('tenant-mismatch');
    }
    const own = await get('/v1/events?tenant=default', platform.apiKey);
    expect(own.status).toBe(200);
    expect((await get('/v1/events', platform.apiKey)).status).toBe(200);
    expect((await get('/openapi.json')).status).toBe(200);
    expect((await get('/docs')).status).toBe(200);
  });
});
