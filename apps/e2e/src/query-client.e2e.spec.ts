import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupRedisPrefix, redisPrefix } from '@tideway/testing';
import { repoRoot, startPlatform, type Platform } from './platform.ts';
import { post, projected, readings, seedDerived } from './query-fixtures.ts';

const run = promisify(execFile);
const bin = (name: string) => path.join(repoRoot, 'node_modules', '.bin', name);

/**
 * A client that uses every operation of the API, written against the types openapi-typescript generates from the
 * running service's /openapi.json. It must type-check (tsc, strict) and then run against the service.
 */
const CLIENT = `
import createClient from 'openapi-fetch';
import type { paths } from './api.ts';

const baseUrl = process.argv[2]!;
const client = createClient<paths>({ baseUrl, querySerializer: { object: { style: 'form', explode: true } } });
const out: Record<string, unknown> = {};
const from = '2026-02-01T00:00:00Z';
const to = '2026-02-02T00:00:00Z';

const list = await client.GET('/v1/events', { params: { query: { order: 'asc', limit: 5, from, to, type: 'iot.sensor.reading', predicates: { 'data.sensor_id': 'eq.42' } } } });
if (!list.data) throw new Error('listEvents: ' + JSON.stringify(list.error));
const first = list.data.items[0]!;
out['listEvents'] = { n: list.data.items.length, next: list.data.next_cursor !== null, seq: list.response.headers.get('tideway-seq') };
const page2 = await client.GET('/v1/events', { params: { query: { order: 'asc', limit: 5, from, to, cursor: list.data.next_cursor ?? undefined } } });
out['listEventsPage2'] = { n: page2.data?.items.length, prev: page2.data?.prev_cursor !== null };

const one = await client.GET('/v1/events/{id}', { params: { path: { id: String(first.event['id']) } } });
out['getEvent'] = { seq: one.data?.seq, same: one.data?.seq === first.seq };

const entity = await client.GET('/v1/entities/{type}/{id}', { params: { path: { type: 'device', id: 'c-d0' } } });
out['getEntity'] = { source: entity.data?.source, count: entity.data?.state['count'] };
const history = await client.GET('/v1/entities/{type}/{id}/history', { params: { path: { type: 'device', id: 'c-d0' }, query: { limit: 3, order: 'asc' } } });
out['getEntityHistory'] = { n: history.data?.items.length };

const agg = await client.GET('/v1/aggregates', { params: { query: { from, to, bucket: '1h', fn: 'count,avg,p95', value: 'data.reading_value', group_by: 'subject' } } });
out['aggregateEvents'] = { rows: agg.data?.rows.length, total: agg.data?.rows.reduce((n, r) => n + (r.values['count'] ?? 0), 0) };

const windows = await client.GET('/v1/aggregates/windows', { params: { query: { pipeline: 'sensor-stats', key: 'd1', limit: 2 } } });
out['listWindowResults'] = { n: windows.data?.items.length, next: windows.data?.next_cursor !== null };

const anomalies = await client.GET('/v1/anomalies', { params: { query: { min_score: 0.5 } } });
out['listAnomalies'] = { n: anomalies.data?.items.length };

const alerts = await client.GET('/v1/alerts', { params: { query: { status: 'open' } } });
out['listAlerts'] = { n: alerts.data?.items.length };

const ack = await client.POST('/v1/alerts/{id}/acknowledge', { params: { path: { id: 'al-1' } }, body: { by: 'client', note: 'on it' } });
out['acknowledgeAlert'] = { status: ack.response.status, acknowledged: ack.data?.alert?.status, by: ack.data?.alert?.acknowledged_by };

const types = await client.GET('/v1/catalog/event-types', {});
out['listEventTypes'] = types.data?.items.map((t) => t.type);
const type = await client.GET('/v1/catalog/event-types/{type}', { params: { path: { type: 'iot.sensor.reading' } } });
out['getEventType'] = { versions: type.data?.versions.length };
const projections = await client.GET('/v1/catalog/projections', {});
out['listProjections'] = projections.data?.items.map((p) => ({ projection: p.projection, lag: p.lag }));

const exported = await client.GET('/v1/exports/events', { params: { query: { from, to, format: 'ndjson', type: 'iot.sensor.reading' } }, parseAs: 'text' });
out['exportEvents'] = { lines: (exported.data ?? '').trim().split('\\n').length, type: exported.response.headers.get('content-type') };

const controller = new AbortController();
const tail = await client.GET('/v1/stream', { params: { query: { last_event_id: first.seq - 1 } }, parseAs: 'stream', signal: controller.signal });
const reader = tail.response.body!.pipeThrough(new TextDecoderStream()).getReader();
let text = '';
while (!text.includes('id: ')) {
  const next = await reader.read();
  if (next.done) break;
  text += next.value;
}
controller.abort();
out['streamEvents'] = { status: tail.response.status, firstId: Number(/id: (\\d+)/.exec(text)?.[1]) };

const bad = await client.GET('/v1/events', { params: { query: { limit: 0 } } });
out['problem'] = { status: bad.response.status, type: bad.error && 'type' in bad.error ? bad.error.type : undefined };

console.log(JSON.stringify(out));
`;

describe('the query API through a client generated from its OpenAPI document', () => {
  let platform: Platform;
  const prefix = redisPrefix();
  const T0 = Date.UTC(2026, 1, 1);

  beforeAll(async () => {
    platform = await startPlatform({ env: { TIDEWAY_AUTH: 'off', PROJECTIONS: 'warm,hot', HOT_PREFIX: prefix } });
    const seq = await post(platform, readings(300, 'c', T0));
    await projected(platform, seq);
    // the hot projection too (read-your-writes through the API)
    expect((await fetch(`${platform.queryUrl}/v1/entities/device/c-d0?min_seq=${seq}`)).status).toBe(200);
    await seedDerived(platform);
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
    await cleanupRedisPrefix(process.env['REDIS_URL']!, prefix);
  });

  it('publishes an OpenAPI 3.1 document that a validator accepts, every operation named', async () => {
    const spec = (await (await fetch(`${platform.queryUrl}/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, { operationId?: string }>> };
    expect(spec.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(spec) as never);
    const operations = Object.values(spec.paths).flatMap((p) => Object.values(p));
    expect(operations.length).toBeGreaterThanOrEqual(14);
    expect(operations.every((o) => typeof o.operationId === 'string')).toBe(true);
  });

  it('generates types with openapi-typescript, type-checks a client using every operation, and runs it', async () => {
    const dir = await mkdtemp(path.join(repoRoot, 'apps/e2e/.tmp-client-'));
    try {
      await run(bin('openapi-typescript'), [`${platform.queryUrl}/openapi.json`, '-o', path.join(dir, 'api.ts')], { cwd: dir });
      await writeFile(path.join(dir, 'client.ts'), CLIENT);
      await writeFile(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2023', 'DOM', 'DOM.Iterable'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            noUncheckedIndexedAccess: true,
            allowImportingTsExtensions: true,
            noEmit: true,
            skipLibCheck: true,
            types: ['node'],
          },
          files: ['client.ts', 'api.ts'],
        }),
      );
      await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      const tsc = await run(bin('tsc'), ['-p', dir], { cwd: dir }).catch((error: Error & { stdout?: string }) => {
        throw new Error(`the generated client does not type-check:\n${error.stdout ?? error.message}`);
      });
      expect(tsc.stdout).toBe('');

      const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(dir, 'client.ts'), platform.queryUrl], { cwd: dir, timeout: 60_000 });
      const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(out.listEvents).toMatchObject({ n: 5, next: true });
      expect(Number(out.listEvents.seq)).toBeGreaterThanOrEqual(300);
      expect(out.listEventsPage2).toMatchObject({ n: 5, prev: true });
      expect(out.getEvent).toMatchObject({ same: true });
      expect(out.getEntity).toMatchObject({ source: 'hot', count: 60 });
      expect(out.getEntityHistory).toEqual({ n: 3 });
      expect(out.aggregateEvents).toEqual({ rows: 5, total: 300 });
      expect(out.listWindowResults).toEqual({ n: 2, next: true });
      expect(out.listAnomalies).toEqual({ n: 4 });
      expect(out.listAlerts).toEqual({ n: 4 });
      expect(out.acknowledgeAlert).toEqual({ status: 200, acknowledged: 'acknowledged', by: 'client' });
      expect(out.listEventTypes).toEqual(expect.arrayContaining(['iot.sensor.reading', 'commerce.order.placed']));
      expect(out.getEventType.versions).toBeGreaterThanOrEqual(1);
      expect(out.listProjections).toEqual(expect.arrayContaining([expect.objectContaining({ projection: 'warm-events', lag: 0 })]));
      expect(out.exportEvents).toEqual({ lines: 300, type: 'application/x-ndjson' });
      expect(out.streamEvents.status).toBe(200);
      expect(out.streamEvents.firstId).toBeGreaterThan(0);
      expect(out.problem).toEqual({ status: 400, type: 'https://tideway.dev/problems/invalid-query' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('acknowledges an alert without a body, idempotently, and 404s an unknown or foreign one', async () => {
    const ack = (id: string, tenant = '') => fetch(`${platform.queryUrl}/v1/alerts/${id}/acknowledge${tenant}`, { method: 'POST' });
    const first = await ack('al-2');
    expect(first.status).toBe(200);
    const body = (await first.json()) as { duplicate: boolean; seq: number; alert: { status: string; acknowledged_by: string | null } };
    expect(body).toMatchObject({ duplicate: false, alert: { status: 'acknowledged', acknowledged_by: null } });
    expect(Number(first.headers.get('tideway-seq'))).toBeGreaterThanOrEqual(body.seq);
    const again = (await (await ack('al-2')).json()) as { duplicate: boolean; seq: number };
    expect(again).toMatchObject({ duplicate: true, seq: body.seq });
    expect((await ack('no-such-alert')).status).toBe(404);
    expect((await ack('al-other')).status).toBe(404); // another tenant's
    const open = (await (await fetch(`${platform.queryUrl}/v1/alerts?status=acknowledged`)).json()) as { items: { id: string }[] };
    expect(open.items.map((a) => a.id).sort()).toEqual(['al-1', 'al-2']);
  });

  it('tags GET answers with a weak ETag of their body and answers a matching If-None-Match with 304', async () => {
    for (const path of ['/v1/entities/device/c-d0', '/v1/events?limit=5']) {
      const first = await fetch(`${platform.queryUrl}${path}`, { headers: { 'accept-encoding': 'identity' } });
      expect(first.status).toBe(200);
      const text = await first.text();
      const tag = first.headers.get('etag');
      expect(tag).toBe(`W/"${createHash('sha1').update(text).digest('hex')}"`);
      const again = await fetch(`${platform.queryUrl}${path}`, { headers: { 'if-none-match': tag! } });
      expect(again.status).toBe(304);
      expect(again.headers.get('etag')).toBe(tag);
      expect(await again.text()).toBe('');
    }
  });

  it('serves an interactive reference at /docs that loads nothing from elsewhere', async () => {
    const page = await fetch(`${platform.queryUrl}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const scripts = [...html.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts).toEqual(['/docs/scalar.js']);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    const bundle = await fetch(`${platform.queryUrl}/docs/scalar.js`, { headers: { 'accept-encoding': 'br' } });
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toContain('javascript');
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});
