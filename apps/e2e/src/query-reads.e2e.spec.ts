import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryColdEventSource, timeKey, type EventRow } from '@tideway/event-query';
import type { EventEnvelope } from '@tideway/events';
import { startPlatform, type Platform } from './platform.ts';
import { post, projected, readings } from './query-fixtures.ts';

type Page = { items: { seq: number; event: Record<string, any> }[]; next_cursor: string | null; prev_cursor: string | null };

async function get(platform: Platform, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(`${platform.queryUrl}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text && /application\/(problem\+)?json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text };
}

/** Walks a listing with next cursors; returns the seqs and the pages' cursors. */
async function walk(platform: Platform, params: Record<string, string>, between?: () => Promise<void>): Promise<{ seqs: number[]; keys: string[]; pages: Page[] }> {
  const seqs: number[] = [];
  const keys: string[] = [];
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ ...params, ...(cursor ? { cursor } : {}) });
    const res = await get(platform, `/v1/events?${q.toString()}`);
    if (res.status !== 200) throw new Error(`${res.status}: ${JSON.stringify(res.body)}`);
    const page = res.body as Page;
    pages.push(page);
    for (const i of page.items) {
      seqs.push(i.seq);
      keys.push(`${timeKey(i.event['time'])}|${String(i.seq).padStart(12, '0')}`);
    }
    cursor = page.next_cursor;
    await between?.();
  } while (cursor);
  return { seqs, keys, pages };
}

describe('query API reads', () => {
  let platform: Platform;
  const cold: EventRow[] = [];
  const T0 = Date.UTC(2026, 0, 10);
  const initial = readings(1200, 'p', T0, 7);

  beforeAll(async () => {
    platform = await startPlatform({
      env: { TIDEWAY_AUTH: 'off', PROJECTIONS: 'warm', QUERY_MIN_SEQ_WAIT_MS: '800', QUERY_SETTLE_MS: '60000' },
      query: { cold: new InMemoryColdEventSource(cold) },
    });
    await projected(platform, await post(platform, initial));
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  it('walks a whole range with no gap and no repeat while new events keep arriving, both orders, and back with prev cursors', async () => {
    const from = new Date(T0).toISOString();
    const to = new Date(T0 + 3 * 3600_000).toISOString();
    let batch = 0;
    // Events arrive between pages: later in the range, earlier in the range, and at times equal to existing ones.
    const arrive = async (): Promise<void> => {
      batch++;
      const late = readings(20, `late${batch}`, T0 + 1200_000 + batch * 7_000, 3);
      const early = readings(5, `early${batch}`, T0 + batch * 1000, 2);
      await post(platform, [...late, ...early]);
    };
    const asc = await walk(platform, { from, to, order: 'asc', limit: '37' }, arrive);
    const [{ seqs: initialList }] = [await walk(platform, { from, to, order: 'asc', limit: '1000', source: 'urn:test:sensors', 'data.name': 'like.n-*' })];
    const ids = await platform.store.sql<{ seq: string }[]>`select seq from events where id like 'p-%'`;
    const initialSeqs = new Set(ids.map((r) => Number(r.seq)));
    expect(initialSeqs.size).toBe(1200);
    expect(initialList.length).toBeGreaterThan(1200);
    expect(new Set(asc.seqs).size).toBe(asc.seqs.length); // no repeat
    expect([...asc.keys].sort()).toEqual(asc.keys); // strictly in (time, seq) order
    for (const seq of initialSeqs) expect(asc.seqs).toContain(seq); // no gap
    expect(asc.seqs.length).toBeGreaterThan(1200); // and it saw arrivals ahead of the cursor

    const desc = await walk(platform, { from, to, order: 'desc', limit: '53' }, arrive);
    expect(new Set(desc.seqs).size).toBe(desc.seqs.length);
    expect([...desc.keys].sort().reverse()).toEqual(desc.keys);
    for (const seq of initialSeqs) expect(desc.seqs).toContain(seq);

    // back from the fourth page with prev cursors: the same pages, in the same order
    const fixed = await walk(platform, { from, to: new Date(T0 + 600_000).toISOString(), order: 'asc', limit: '50' });
    let page = fixed.pages[3]!;
    for (let i = 2; i >= 0; i--) {
      const q = new URLSearchParams({ from, to: new Date(T0 + 600_000).toISOString(), order: 'asc', limit: '50', cursor: page.prev_cursor! });
      page = (await get(platform, `/v1/events?${q.toString()}`)).body as Page;
      expect(page.items.map((x) => x.seq)).toEqual(fixed.pages[i]!.items.map((x) => x.seq));
    }
    expect(page.prev_cursor).toBeNull();
  }, 120_000);

  it('filters by payload predicates', async () => {
    const from = new Date(T0).toISOString();
    const to = new Date(T0 + 1200_000).toISOString();
    const res = await get(platform, `/v1/events?from=${from}&to=${to}&order=asc&limit=1000&data.sensor_id=eq.42&data.reading_value=gte.50`);
    expect(res.status).toBe(200);
    const expected = initial.filter((e: any) => e.data.sensor_id === 42 && e.data.reading_value >= 50).map((e) => e['id']);
    expect(res.body.items.map((i: any) => i.event.id)).toEqual(expected);
    const names = await get(platform, `/v1/events?from=${from}&to=${to}&order=asc&limit=1000&data.name=in.(n-1,n-2,"n-3")&subject=p-d1`);
    expect(names.body.items.map((i: any) => i.event.id)).toEqual(['p-1']);
  });

  it('answers read-your-writes with min_seq, and 503 with the lag when the projection does not get there in time', async () => {
    const seq = await post(platform, readings(1, 'ryw', Date.UTC(2026, 5, 1)));
    const res = await get(platform, `/v1/events?min_seq=${seq}&type=iot.sensor.reading&limit=1`);
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('tideway-seq'))).toBeGreaterThanOrEqual(seq);
    expect(res.body.items[0].seq).toBe(seq);

    await platform.stopProjector();
    try {
      const behind = await post(platform, readings(1, 'ryw2', Date.UTC(2026, 5, 1)));
      const late = await get(platform, `/v1/events?min_seq=${behind}`);
      expect(late.status).toBe(503);
      expect(late.headers.get('content-type')).toContain('application/problem+json');
      expect(late.headers.get('retry-after')).toBe('1');
      expect(late.body).toMatchObject({ code: 'store-unavailable', reason: 'projection-behind', min_seq: behind, lag: 1 });
    } finally {
      await platform.startProjector();
    }
  });

  it('sends ETags and answers 304; caches settled ranges as immutable; compresses with br and gzip', async () => {
    const settled = `/v1/events?from=${new Date(T0).toISOString()}&to=${new Date(T0 + 600_000).toISOString()}&order=asc&limit=100`;
    const first = await get(platform, settled);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/"/);
    expect(first.headers.get('cache-control')).toContain('immutable');
    const again = await fetch(`${platform.queryUrl}${settled}`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);

    const open = await get(platform, `/v1/events?from=${new Date(T0).toISOString()}&limit=5`);
    expect(open.headers.get('cache-control')).toBe('private, no-cache');

    for (const encoding of ['br', 'gzip']) {
      // undici decompresses transparently; the header shows what travelled
      const res = await fetch(`${platform.queryUrl}${settled}`, { headers: { 'accept-encoding': encoding } });
      expect(res.headers.get('content-encoding')).toBe(encoding);
      expect(((await res.json()) as Page).items).toHaveLength(100);
    }
  });

  it('exports a range as NDJSON, CSV and Parquet, streamed', async () => {
    const q = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 1200_000).toISOString()}&data.sensor_id=neq.42&subject=p-d2`;
    const expected = initial.filter((e: any) => e.data.sensor_id !== 42 && e.subject === 'p-d2');
    const ndjson = await get(platform, `/v1/exports/events?${q}&format=ndjson`);
    expect(ndjson.headers.get('content-disposition')).toMatch(/attachment; filename="events-default-.*\.ndjson"/);
    const lines = (ndjson.body as string).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event.id)).toEqual(expected.map((e) => e['id']));

    const csv = await get(platform, `/v1/exports/events?${q}&format=csv`);
    const rows = (csv.body as string).trim().split('\r\n');
    expect(rows[0]).toBe('seq,id,time,type,source,subject,tenant,recordedtime,partitionkey,data');
    expect(rows).toHaveLength(expected.length + 1);
    expect(rows[1]).toContain(`,${String(expected[0]!['id'])},`);

    const parquet = await fetch(`${platform.queryUrl}/v1/exports/events?${q}&format=parquet`);
    expect(parquet.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    const bytes = await parquet.arrayBuffer();
    const objects = await parquetReadObjects({ file: bytes });
    expect(objects.map((o) => o['id'])).toEqual(expected.map((e) => e['id']));
    expect(objects[0]!['data']).toEqual(expected[0]!['data']);
    expect(typeof objects[0]!['seq']).toBe('bigint');

    // an independent reader agrees: DuckDB
    const dir = await mkdtemp(path.join(tmpdir(), 'tideway-export-'));
    try {
      const file = path.join(dir, 'export.parquet');
      await writeFile(file, Buffer.from(bytes));
      const duck = await DuckDBInstance.create(':memory:');
      const connection = await duck.connect();
      try {
        const reader = await connection.runAndReadAll(`select id, subject, json_extract(data, '$.reading_value')::int as v from read_parquet('${file}') order by seq`);
        const got = reader.getRowObjectsJS();
        expect(got.map((r) => r['id'])).toEqual(expected.map((e) => e['id']));
        expect(got.map((r) => r['v'])).toEqual(expected.map((e: any) => e.data.reading_value));
      } finally {
        connection.closeSync();
        duck.closeSync();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads a range spanning warm and cold exactly as before tiering', async () => {
    const from = new Date(T0 - 86_400_000).toISOString();
    const to = new Date(T0 + 86_400_000).toISOString();
    const before = await walk(platform, { from, to, order: 'asc', limit: '97', type: 'iot.sensor.reading' });
    const beforeFiltered = await walk(platform, { from, to, order: 'desc', limit: '31', 'data.sensor_id': 'eq.42' });
    // Tier the first half hour: archive its rows, then remove them from warm (as tiering does after the archive is confirmed).
    const cutoff = new Date(T0 + 1800_000).toISOString();
    const rows = await platform.store.sql<{ seq: string; attributes: Omit<EventEnvelope, 'data'>; data: unknown }[]>`
      select seq, attributes, data from events where time < ${cutoff}`;
    for (const r of rows) {
      const event = { ...r.attributes, ...(r.data === null ? {} : { data: r.data }) } as EventEnvelope;
      cold.push({ t: timeKey(event.time), s: Number(r.seq), event });
    }
    await platform.store.sql`delete from events where time < ${cutoff}`;
    expect(await platform.reader.count()).toBeLessThan(before.seqs.length);
    const after = await walk(platform, { from, to, order: 'asc', limit: '97', type: 'iot.sensor.reading' });
    expect(after.seqs).toEqual(before.seqs);
    expect((await walk(platform, { from, to, order: 'desc', limit: '31', 'data.sensor_id': 'eq.42' })).seqs).toEqual(beforeFiltered.seqs);
    const exported = await get(platform, `/v1/exports/events?from=${from}&to=${to}&type=iot.sensor.reading`);
    expect((exported.body as string).trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual(before.seqs);
  });
});
