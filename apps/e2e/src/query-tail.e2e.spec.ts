import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from './platform.ts';
import { post, readSse, readings } from './query-fixtures.ts';

describe('live tail over Server-Sent Events', () => {
  let platform: Platform;
  beforeAll(async () => {
    platform = await startPlatform({ projector: false, env: { TIDEWAY_AUTH: 'off', QUERY_SSE_HEARTBEAT_MS: '300' } });
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  const tail = (query: string, lastEventId?: number): Promise<Response> =>
    fetch(`${platform.queryUrl}/v1/stream?${query}`, { headers: lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) } });

  it('a client that disconnects and reconnects with Last-Event-ID misses nothing and sees nothing twice', async () => {
    const T = Date.UTC(2026, 3, 1);
    // Other types and another tenant's events interleave: the filter must hold across reconnects.
    const noise = (n: number, prefix: string) => readings(n, prefix, T).map((e) => ({ ...e, type: 'misc.noise' }));
    const first = await tail('type=iot.sensor.reading');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toContain('text/event-stream');
    const startSeq = Number(first.headers.get('tideway-seq'));

    const wanted = readings(300, 'tail', T);
    const posting = (async () => {
      for (let i = 0; i < wanted.length; i += 20) {
        await post(platform, [...wanted.slice(i, i + 20), ...noise(3, `noise${i}`)]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const received: { id: number; data: { seq: number; event: Record<string, unknown> } }[] = [];
    let response: Response = first;
    // Disconnect after every 45 events and resume from the last id seen.
    while (received.length < wanted.length) {
      const { events } = await readSse(response, Math.min(45, wanted.length - received.length), 15_000);
      received.push(...events);
      if (events.length === 0) throw new Error(`the tail stalled after ${received.length} events`);
      response = await tail('type=iot.sensor.reading', received.at(-1)!.id);
    }
    await posting;
    await response.body?.cancel();

    expect(received.map((e) => e.data.event['id'])).toEqual(wanted.map((e) => e['id']));
    expect(received.every((e) => e.id === e.data.seq && e.id > startSeq)).toBe(true);
    const ids = received.map((e) => e.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  }, 60_000);

  it('filters by tenant, subject and payload, and sends heartbeats while idle', async () => {
    const T = Date.UTC(2026, 3, 2);
    const res = await tail('type=iot.sensor.reading&subject=hb-d1&data.reading_value=gte.50');
    const reading = readSse(res, 3, 10_000);
    await new Promise((r) => setTimeout(r, 800));
    const events = readings(40, 'hb', T, 4);
    await post(platform, events);
    const { events: got, comments } = await reading;
    const expected = events.filter((e: any) => e.subject === 'hb-d1' && e.data.reading_value >= 50).slice(0, 3);
    expect(got.map((e) => e.data.event['id'])).toEqual(expected.map((e) => e['id']));
    expect(comments.some((c) => c.startsWith(': heartbeat'))).toBe(true);

    const other = await tail('tenant=other&last_event_id=0');
    const { events: none } = await readSse(other, 1, 1_000);
    expect(none).toEqual([]);
  });

  it('refuses bad resume positions and unknown parameters with problem+json', async () => {
    for (const [query, headers] of [
      ['', { 'last-event-id': 'abc' }],
      ['last_event_id=-1', {}],
      ['type=iot.*', {}],
      ['colour=red', {}],
    ] as const) {
      const res = await fetch(`${platform.queryUrl}/v1/stream?${query}`, { headers });
      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      await res.body?.cancel();
    }
  });
});
