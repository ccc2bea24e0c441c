import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postEvents, readAll, sensorEvents, startPlatform, waitForWarmCount, type Platform } from './platform.ts';

describe('ingest → JetStream → warm projection → query, over HTTP', () => {
  let platform: Platform;
  beforeAll(async () => {
    platform = await startPlatform();
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  const events = sensorEvents(1000);

  it('stores 1,000 events posted in batches and reads them all back with the same ids and payloads', async () => {
    for (let i = 0; i < events.length; i += 100) {
      const res = await postEvents(platform, events.slice(i, i + 100));
      expect(res.status).toBe(202);
      expect(res.body.created).toBe(100);
      expect(res.body.duplicates).toBe(0);
      for (const r of res.body.results) expect(r.seq).toBeGreaterThan(0);
    }
    await waitForWarmCount(platform, 1000);

    const asc = await readAll(platform, { order: 'asc' });
    expect(asc.map((i) => i.event.id)).toEqual(events.map((e) => e.id));
    for (const [n, item] of asc.entries()) {
      expect(item.event.data).toEqual(events[n]!['data']);
      expect(item.event.source).toBe('urn:test:sensors');
      expect(item.event.time).toBe(events[n]!['time']);
      expect(item.event.tenant).toBe('default');
    }
    const desc = await readAll(platform, { order: 'desc', limit: '99' });
    expect(desc.map((i) => i.event.id)).toEqual(events.map((e) => e.id).reverse());
  });

  it('answers a re-posted batch with duplicates and stores nothing twice', async () => {
    const res = await postEvents(platform, events.slice(0, 100));
    expect(res.status).toBe(202);
    expect(res.body.duplicates).toBe(100);
    expect(res.body.created).toBe(0);
    expect(await platform.streamMessages()).toBe(1000);
    // give the projector a chance to (wrongly) write something
    await new Promise((r) => setTimeout(r, 300));
    expect(await platform.reader.count()).toBe(1000);
  });

  it('assigns a sortable id and the receive time when the producer omits them', async () => {
    const res = await postEvents(platform, { specversion: '1.0', source: 'urn:test:anon', type: 'misc.thing', data: 'plain' });
    expect(res.status).toBe(202);
    const [result] = res.body.results;
    expect(result.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    await waitForWarmCount(platform, 1001);
    const got = await fetch(`${platform.queryUrl}/v1/events/${result.id}`);
    expect(got.status).toBe(200);
    const body = (await got.json()) as { seq: number; event: Record<string, unknown> };
    expect(body.seq).toBe(result.seq);
    expect(body.event['data']).toBe('plain');
    expect(body.event['time']).toBe(body.event['recordedtime']);
  });

  it('filters by type, subject and time range', async () => {
    const bySubject = await readAll(platform, { subject: 'dev-3', type: 'iot.sensor.reading', order: 'asc' });
    expect(bySubject.map((i) => i.event.id)).toEqual(events.filter((e) => e['subject'] === 'dev-3').map((e) => e.id));
    const from = events[100]!['time'] as string;
    const to = events[200]!['time'] as string;
    const range = await readAll(platform, { from, to, order: 'asc' });
    expect(range.map((i) => i.event.id)).toEqual(events.slice(100, 200).map((e) => e.id));
    const none = await readAll(platform, { type: 'no.such.type' });
    expect(none).toEqual([]);
  });

  it('answers unknown ids and bad query parameters with problem+json', async () => {
    const missing = await fetch(`${platform.queryUrl}/v1/events/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    for (const q of ['limit=0', 'limit=abc', 'order=sideways', 'from=yesterday', 'cursor=garbage', 'unknown=1']) {
      const res = await fetch(`${platform.queryUrl}/v1/events?${q}`);
      expect(res.status, q).toBe(400);
      const body = (await res.json()) as { type: string };
      expect(body.type).toBe('https://tideway.dev/problems/invalid-query');
    }
  });

  it('serves health, readiness and metrics on every app', async () => {
    for (const url of [platform.ingestUrl, platform.queryUrl]) {
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('tideway_http_requests_total');
    }
    const ingestMetrics = await (await fetch(`${platform.ingestUrl}/metrics`)).text();
    expect(ingestMetrics).toMatch(/tideway_ingest_events_total\{[^}]*outcome="duplicate"[^}]*\} 100/);
  });
});
