import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope, StoredEvent } from '@tideway/events';
import { createPgSchema, type PgSchema } from '@tideway/testing';
import { WarmEventReader, WarmProjection, migrateWarmStore, openWarmStore, warmChecksum, type WarmStore } from './index.ts';

const migrations = fileURLToPath(new URL('../../../migrations', import.meta.url));

function reading(seq: number, device: string, value: number, time: string): StoredEvent {
  const event: EventEnvelope = {
    specversion: '1.0',
    id: `r-${seq}`,
    source: 'urn:test',
    type: 'iot.sensor.reading',
    subject: device,
    time,
    tenant: 'acme',
    partitionkey: device,
    datacontenttype: 'application/json',
    recordedtime: time,
    data: { device_id: device, reading_value: value },
  };
  return { seq, subject: 'x', event };
}

describe('warm projection', () => {
  let pg: PgSchema;
  let store: WarmStore;
  beforeAll(async () => {
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    store = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 2 });
    await migrateWarmStore(store, migrations);
  });
  afterAll(async () => {
    await store?.close();
    await pg?.drop();
  });

  it('creates daily partitions on demand and folds entity state with the checkpoint, once', async () => {
    const projection = new WarmProjection(store, 'warm-test');
    const batch = [
      reading(1, 'd1', 10, '2026-03-01T23:59:59.999Z'),
      reading(2, 'd2', 50, '2026-03-02T00:00:00Z'),
      reading(3, 'd1', 30, '2026-03-02T12:00:00.123456Z'),
    ];
    expect(await projection.apply(batch, 3)).toEqual({ applied: 3, skipped: 0, checkpoint: 3 });
    // the same batch again (a redelivery) changes nothing
    expect(await projection.apply(batch, 3)).toEqual({ applied: 0, skipped: 3, checkpoint: 3 });
    // an overlapping batch applies only what is new
    expect(await projection.apply([batch[2]!, reading(4, 'd1', 20, '2026-03-02T13:00:00Z')], 5)).toEqual({ applied: 1, skipped: 1, checkpoint: 5 });

    const partitions = await store.sql<{ relname: string }[]>`
      select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
      join pg_namespace n on n.oid = p.relnamespace where p.relname = 'events' and n.nspname = ${store.schema} order by 1`;
    expect(partitions.map((p) => p.relname)).toEqual(['events_p20260301', 'events_p20260302']);

    const [d1] = await store.sql<{ state: Record<string, unknown>; last_seq: string }[]>`
      select state, last_seq from entity_state where tenant = 'acme' and entity_type = 'device' and entity_id = 'd1'`;
    expect(d1!.state).toMatchObject({ count: 3, sum: 60, min: 10, max: 30, last_value: 20, last_seq: 4 });
    expect(Number(d1!.last_seq)).toBe(4);
    expect(await projection.checkpoint()).toBe(5);

    const reader = new WarmEventReader(store);
    const page = await reader.page({ tenant: 'acme', order: 'asc', limit: 10 });
    expect(page.items.map((i) => i.seq)).toEqual([1, 2, 3, 4]);
    expect(page.items[2]!.event.time).toBe('2026-03-02T12:00:00.123456Z');
  });

  it('keeps a JSON null payload apart from no payload, and attributes verbatim', async () => {
    const projection = new WarmProjection(store, 'warm-payloads');
    const withNull = reading(101, 'n', 1, '2026-05-01T00:00:00.000001Z');
    const without = reading(102, 'n', 1, '2026-05-01T00:00:01Z');
    const odd = reading(103, 'n', 1, '2026-05-01T00:00:02Z');
    const events: StoredEvent[] = [
      { ...withNull, event: { ...withNull.event, id: 'p-null', data: null } },
      { ...without, event: (({ data: _data, ...rest }) => rest)({ ...without.event, id: 'p-none' }) },
      { ...odd, event: { ...odd.event, id: 'p-odd', subject: 'tab\tquote"back\\slash\nline', data: { text: 'é ✓ \u2028 "q"', n: 1.5e-7, nested: [null, true] } } },
    ];
    await projection.apply(events, 103);
    const rows = await store.sql<{ id: string; data: unknown; attributes: Record<string, unknown>; time: Date }[]>`
      select id, data, attributes, time from events where id like 'p-%' order by seq`;
    expect(rows.map((r) => r.data)).toEqual([null, null, events[2]!.event.data]);
    const [nulls] = await store.sql<{ sqlnull: number; jsonnull: number }[]>`
      select count(*) filter (where data is null)::int as sqlnull, count(*) filter (where data = 'null'::jsonb)::int as jsonnull from events where id like 'p-%'`;
    expect(nulls).toEqual({ sqlnull: 1, jsonnull: 1 });
    const { data: _d, ...attributes } = events[2]!.event;
    expect(rows[2]!.attributes).toEqual(attributes);
    const reader = new WarmEventReader(store);
    const page = await reader.page({ tenant: 'acme', order: 'asc', limit: 10, from: '2026-05-01T00:00:00Z', to: '2026-05-02T00:00:00Z' });
    expect(page.items.map((i) => i.event.time)).toEqual(['2026-05-01T00:00:00.000001Z', '2026-05-01T00:00:01Z', '2026-05-01T00:00:02Z']);
  });

  it('rolls back rows, states and checkpoint together when a batch fails', async () => {
    const projection = new WarmProjection(store, 'warm-rollback');
    await projection.apply([reading(1, 'x', 1, '2026-04-01T00:00:00Z')], 1);
    const bad = reading(2, 'x', 2, 'not a time');
    await expect(projection.apply([reading(3, 'x', 3, '2026-04-01T00:00:01Z'), bad], 3)).rejects.toThrow();
    expect(await projection.checkpoint()).toBe(1);
  });
});

describe('warm projection with concurrent applies', () => {
  const schemas: PgSchema[] = [];
  const stores: WarmStore[] = [];
  const fresh = async (): Promise<WarmStore> => {
    const pg = await createPgSchema(process.env['DATABASE_URL']!);
    schemas.push(pg);
    const store = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 4 });
    stores.push(store);
    await migrateWarmStore(store, migrations);
    return store;
  };
  afterAll(async () => {
    for (const s of stores) await s.close();
    for (const pg of schemas) await pg.drop();
  });
  const devices = ['a', 'b', 'c', 'd'];
  const stream = Array.from({ length: 600 }, (_, i) =>
    reading(i + 1, devices[i % devices.length]!, (i * 37) % 101, new Date(Date.UTC(2026, 4, 1) + i * 60_000).toISOString()),
  );
  const batchesOf = (events: readonly StoredEvent[], size: number): StoredEvent[][] =>
    Array.from({ length: Math.ceil(events.length / size) }, (_, i) => events.slice(i * size, (i + 1) * size));

  it('overlapping applies commit in order, to the same rows, states and checkpoint as one at a time', async () => {
    const oneByOne = new WarmProjection(await fresh(), 'warm-events');
    for (const b of batchesOf(stream, 50)) await oneByOne.apply(b);
    const overlapping = new WarmProjection(await fresh(), 'warm-events');
    expect(overlapping.maxConcurrentApplies).toBe(2);
    // two in flight at a time, as the runner does
    const batches = batchesOf(stream, 50);
    const results = [];
    for (let i = 0; i < batches.length; i += 2) results.push(...(await Promise.all(batches.slice(i, i + 2).map((b) => overlapping.apply(b)))));
    expect(results.map((r) => r.checkpoint)).toEqual(batches.map((b) => b.at(-1)!.seq));
    expect(await warmChecksum(stores[1]!)).toEqual(await warmChecksum(stores[0]!));
    expect(await overlapping.checkpoint()).toBe(600);
  });

  it('folds each event once when redelivered batches overlap the checkpoint, two in flight', async () => {
    const referenceStore = await fresh();
    const reference = new WarmProjection(referenceStore, 'warm-events');
    for (const b of batchesOf(stream.slice(0, 350), 50)) await reference.apply(b);
    const store = await fresh();
    const projection = new WarmProjection(store, 'warm-events');
    for (const b of batchesOf(stream.slice(0, 300), 50)) await projection.apply(b);
    // a consumer that restarted behind the checkpoint hands over 201–250 and 251–350 at once: the second inserts
    // before it knows the checkpoint, and must fold only 301–350
    const results = await Promise.all([projection.apply(stream.slice(200, 250)), projection.apply(stream.slice(250, 350))]);
    expect(results.map((r) => [r.checkpoint, r.skipped])).toEqual([
      [300, 50],
      [350, 50],
    ]);
    expect(await warmChecksum(store)).toEqual(await warmChecksum(referenceStore));
  });

  it('never commits a batch whose predecessor failed', async () => {
    const store = await fresh();
    const projection = new WarmProjection(store, 'warm-events');
    await projection.apply(stream.slice(0, 10));
    const broken = [...stream.slice(10, 19), { ...stream[19]!, event: { ...stream[19]!.event, time: 'not a time' } }];
    const [first, second] = await Promise.allSettled([projection.apply(broken), projection.apply(stream.slice(20, 30))]);
    expect(first.status).toBe('rejected');
    expect(second.status).toBe('rejected');
    expect(await projection.checkpoint()).toBe(10);
    const [count] = await store.sql<{ n: number }[]>`select count(*)::int as n from events`;
    expect(count?.n).toBe(10);
    // retried in order, one at a time (as the runner does after a failure), both commit
    await projection.apply(stream.slice(10, 20));
    await projection.apply(stream.slice(20, 30));
    expect(await projection.checkpoint()).toBe(30);
  });

  it('stores an event sent twice, in two overlapping batches, once', async () => {
    const store = await fresh();
    const projection = new WarmProjection(store, 'warm-events');
    const first = stream.slice(0, 300);
    // the producer re-sent event 150 (same id, source and time) later in the stream
    const second = [...stream.slice(300, 310), { ...stream[149]!, seq: 311 }, ...stream.slice(311, 400)];
    const settled = await Promise.allSettled([projection.apply(first), projection.apply(second)]);
    // should the two INSERTs have waited for each other, PostgreSQL broke the deadlock: retry in order
    for (const [i, s] of settled.entries()) if (s.status === 'rejected') await projection.apply([first, second][i]!);
    if (settled[0].status === 'rejected' && settled[1].status === 'fulfilled') throw new Error('a batch committed after a failed predecessor');
    expect(await projection.checkpoint()).toBe(400);
    const [counts] = await store.sql<{ n: number; dup: number }[]>`
      select count(*)::int as n, count(*) filter (where id = ${stream[149]!.event.id})::int as dup from events`;
    expect(counts).toEqual({ n: 399, dup: 1 });
  });
});

describe('warm projection rejects', () => {
  it('names events whose time it cannot store, so the runner quarantines them', () => {
    const projection = new WarmProjection({} as WarmStore);
    expect(projection.reject(reading(1, 'x', 1, 'not a time'))).toMatch(/not a timestamp/);
    expect(projection.reject(reading(1, 'x', 1, '2026-04-01T00:00:00Z'))).toBeUndefined();
    // years 1 to 9999, to the last millisecond, and nothing outside
    for (const time of ['0001-01-01T00:00:00Z', '1850-06-01T00:00:00Z', '1900-12-31T23:59:59Z', '9999-12-31T23:59:59.999Z']) {
      expect(projection.reject(reading(1, 'x', 1, time)), time).toBeUndefined();
    }
    for (const time of ['0000-12-31T23:59:59.999Z', '+010000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z']) {
      expect(projection.reject(reading(1, 'x', 1, time)), time).toMatch(/outside the supported range/);
    }
  });

  it('stores and reads back events at both ends of the range', async () => {
    await using pg = await createPgSchema(process.env['DATABASE_URL']!);
    const store = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 2 });
    try {
      await migrateWarmStore(store, migrations);
      const projection = new WarmProjection(store, 'warm-range');
      const times = ['0001-01-01T00:00:00Z', '1850-06-01T12:00:00Z', '9999-12-31T23:59:59.999Z'];
      const batch = times.map((time, i) => reading(i + 1, 'old', i, time));
      for (const e of batch) expect(projection.reject(e)).toBeUndefined();
      expect(await projection.apply(batch, 3)).toEqual({ applied: 3, skipped: 0, checkpoint: 3 });
      const page = await new WarmEventReader(store).page({ tenant: 'acme', order: 'asc', limit: 10 });
      expect(page.items.map((i) => i.event.time)).toEqual(times);
    } finally {
      await store.close();
    }
  });
});
