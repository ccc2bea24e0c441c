import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '@tideway/events';
import { createPgSchema, createS3Bucket, type PgSchema, type S3Bucket } from '@tideway/testing';
import { ColdArchiveReader, createColdProjection, migrateColdStore, openColdStore, queryManifest, type ColdArchiveOptions, type ColdStore } from './index.ts';
import { duckdbQuery, manifestSnapshot, mixedStream, objectChecksums, testEvent } from './spec-helpers.ts';
import { parseTimeMicros } from './time.ts';

const migrations = fileURLToPath(new URL('../../../migrations/cold', import.meta.url));

/** Feeds events to a projection the way the runner does: reject hook first, then one apply per batch. */
async function project(options: ColdArchiveOptions, events: readonly StoredEvent[], batchSizes: readonly number[]): Promise<string[]> {
  const projection = createColdProjection(options);
  await projection.checkpoint();
  const rejected: string[] = [];
  for (let i = 0, b = 0; i < events.length; b++) {
    const batch = events.slice(i, i + batchSizes[b % batchSizes.length]!);
    i += batch.length;
    const good = batch.filter((e) => {
      const reason = projection.reject(e);
      if (reason !== undefined) rejected.push(`${e.seq}: ${reason}`);
      return reason === undefined;
    });
    await projection.apply(good, batch.at(-1)!.seq);
  }
  return rejected;
}

const sortByTime = (a: StoredEvent, b: StoredEvent): number => {
  const ta = parseTimeMicros(a.event.time);
  const tb = parseTimeMicros(b.event.time);
  return ta < tb ? -1 : ta > tb ? 1 : a.seq - b.seq;
};

describe('cold projection', () => {
  let pg: PgSchema;
  let bucket: S3Bucket;
  let store: ColdStore;
  const events = mixedStream(900, { tenants: 2, days: 3 });
  // small windows and objects, so that windows, rewrites and size cuts all happen
  const layout = { windowSize: 250, maxObjectBytes: 24 * 1024 } as const;
  let archive: ColdArchiveOptions;

  beforeAll(async () => {
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    bucket = await createS3Bucket(process.env);
    store = openColdStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, s3: bucket.client, bucket: bucket.name });
    await migrateColdStore(store, migrations);
    await migrateColdStore(store, migrations); // twice is harmless
    archive = { store, name: 'cold-main', prefix: 'main', ...layout };
    expect(await project(archive, events, [97, 13, 250, 1, 64])).toEqual([]);
  });

  afterAll(async () => {
    await store?.close();
    await bucket?.remove();
    await pg?.drop();
  });

  it('writes files that DuckDB reads back as the source events', async () => {
    const manifest = await queryManifest(store.sql, { projection: 'cold-main' });
    expect(manifest.length).toBeGreaterThan(10);
    expect(manifest.reduce((n, m) => n + m.rowCount, 0)).toBe(events.length);
    for (const m of manifest) {
      expect(m.key).toMatch(new RegExp(`^main/tenant=${m.tenant}/type=${m.type.replaceAll('.', '\\.')}/date=${m.date}/\\d{20}-\\d{20}\\.parquet$`));
    }
    const rows = await duckdbQuery(
      store,
      manifest.map((m) => m.key),
      `select seq, id, tenant, source, type, subject, epoch_us(time) as time_us, epoch_us(recorded_time) as recorded_us, partition_key,
              stream_subject, attributes::varchar as attributes, data::varchar as data, data_reading_value, data_unit, data_amount,
              strftime(time at time zone 'UTC', '%Y-%m-%d') as utc_date, filename
       from read_parquet($FILES, union_by_name = true, filename = true) order by seq`,
    );
    expect(rows).toHaveLength(events.length);
    for (const [i, row] of rows.entries()) {
      const { seq, subject, event } = events[i]!;
      const { data, ...attributes } = event;
      expect(row['seq']).toBe(BigInt(seq));
      expect([row['id'], row['tenant'], row['source'], row['type'], row['partition_key'], row['stream_subject']]).toEqual([
        event.id,
        event.tenant,
        event.source,
        event.type,
        event.partitionkey,
        subject,
      ]);
      expect(row['subject']).toBe(event.subject ?? null);
      expect(row['time_us']).toBe(parseTimeMicros(event.time));
      expect(row['recorded_us']).toBe(parseTimeMicros(event.recordedtime));
      expect(row['data'] === null ? undefined : JSON.parse(row['data'] as string)).toEqual(data);
      expect(JSON.parse(row['attributes'] as string)).toEqual(attributes);
      const payload = (data ?? {}) as Record<string, unknown>;
      expect(row['data_reading_value']).toBe(event.type === 'iot.sensor.reading' ? (payload['reading_value'] ?? null) : null);
      expect(row['data_unit']).toBe(payload['unit'] ?? null);
      expect(row['data_amount']).toBe(payload['amount'] ?? null);
    }
  });

  it('records each object in the manifest with its checksum, ranges and columns', async () => {
    const manifest = await queryManifest(store.sql, { projection: 'cold-main' });
    const checksums = await objectChecksums(store, 'main');
    expect([...checksums.keys()].sort()).toEqual(manifest.map((m) => m.key.slice('main/'.length)));
    for (const m of manifest) {
      expect(checksums.get(m.key.slice('main/'.length))).toBe(m.sha256);
      const mine = events.filter((e) => e.seq >= m.seqMin && e.seq <= m.seqMax && e.event.tenant === m.tenant && e.event.type === m.type);
      const inFile = mine.filter((e) => new Date(Number(parseTimeMicros(e.event.time) / 1000n)).toISOString().slice(0, 10) === m.date);
      expect(inFile).toHaveLength(m.rowCount);
      expect(m.windowEnd! - m.windowStart!).toBe(layout.windowSize - 1);
      expect(m.columns.slice(0, 12).map((c) => c.name)).toEqual([
        'seq', 'id', 'tenant', 'source', 'type', 'subject', 'time', 'recorded_time', 'partition_key', 'stream_subject', 'attributes', 'data',
      ]);
    }
    // schema evolution: the payload gained `unit` half way; older files have no such column
    const withUnit = manifest.filter((m) => m.columns.some((c) => c.name === 'data_unit'));
    expect(withUnit.length).toBeGreaterThan(0);
    expect(withUnit.length).toBeLessThan(manifest.filter((m) => m.type === 'iot.sensor.reading').length);
  });

  it('reads events back in stream order, in time order both ways, filtered and paged', async () => {
    const reader = new ColdArchiveReader(archive);
    const all: StoredEvent[] = [];
    for await (const e of reader.events({ order: 'seq' })) all.push(e);
    expect(all).toEqual(events);

    const from = '2024-02-28T06:00:00Z';
    const to = '2024-02-29T03:00:00Z';
    const expected = events
      .filter((e) => e.event.tenant === 't1' && parseTimeMicros(e.event.time) >= parseTimeMicros(from) && parseTimeMicros(e.event.time) < parseTimeMicros(to))
      .sort(sortByTime);
    expect(expected.length).toBeGreaterThan(50);
    const asc: StoredEvent[] = [];
    for await (const e of reader.events({ tenant: 't1', from, to })) asc.push(e);
    expect(asc).toEqual(expected);
    const desc: StoredEvent[] = [];
    for await (const e of reader.events({ tenant: 't1', from, to, direction: 'desc' })) desc.push(e);
    expect(desc).toEqual([...expected].reverse());

    // keyset pages of 37 walk the range with no gap and no repeat
    const pages: StoredEvent[] = [];
    let after: { seq: number; time: string } | undefined;
    for (;;) {
      const page: StoredEvent[] = [];
      for await (const e of reader.events({ tenant: 't1', from, to, ...(after ? { after } : {}) })) {
        page.push(e);
        if (page.length === 37) break;
      }
      pages.push(...page);
      if (page.length < 37) break;
      after = { seq: page.at(-1)!.seq, time: page.at(-1)!.event.time };
    }
    expect(pages).toEqual(expected);

    const orders: StoredEvent[] = [];
    for await (const e of reader.events({ tenant: 't0', type: 'commerce.order.placed', fromSeq: 100, toSeq: 400, order: 'seq' })) orders.push(e);
    expect(orders).toEqual(events.filter((e) => e.event.tenant === 't0' && e.event.type === 'commerce.order.placed' && e.seq >= 100 && e.seq <= 400));
  });

  it('gives the same objects and manifest however the stream is cut into batches', async () => {
    expect(await project({ store, name: 'cold-one-batch', prefix: 'one', ...layout }, events, [events.length])).toEqual([]);
    expect(await project({ store, name: 'cold-tiny-batches', prefix: 'tiny', ...layout }, events, [1, 2, 3, 5, 8])).toEqual([]);
    const main = await manifestSnapshot(store, 'cold-main', 'main');
    expect(await manifestSnapshot(store, 'cold-one-batch', 'one')).toEqual(main);
    expect(await manifestSnapshot(store, 'cold-tiny-batches', 'tiny')).toEqual(main);
    expect(await objectChecksums(store, 'tiny')).toEqual(await objectChecksums(store, 'main'));
  });

  it('re-applying a batch changes nothing: same objects, same manifest', async () => {
    const options = { store, name: 'cold-again', prefix: 'again', ...layout };
    const batch = events.slice(0, 300);
    await project(options, batch, [300]);
    const manifest = await store.sql`select * from cold_objects where projection = 'cold-again' order by key`;
    const listing = async (): Promise<unknown[]> => {
      const out: unknown[] = [];
      for await (const o of store.s3.listObjectsV2(store.bucket, 'again/', true)) out.push(o);
      return out;
    };
    const objects = await listing();

    const same = createColdProjection(options);
    expect(await same.checkpoint()).toBe(300);
    expect(await same.apply(batch, 300)).toEqual({ applied: 0, skipped: 300, checkpoint: 300 });
    expect(await same.apply(batch, 300)).toEqual({ applied: 0, skipped: 300, checkpoint: 300 });
    expect(await store.sql`select * from cold_objects where projection = 'cold-again' order by key`).toEqual(manifest);
    expect(await listing()).toEqual(objects); // not even rewritten: same ETags and modification times
  });

  it('a write whose commit never happened is overwritten by the redelivery, ending where an uninterrupted run ends', async () => {
    const options = { store, name: 'cold-crash', prefix: 'crash', ...layout };
    await project(options, events.slice(0, 320), [320]);
    // A writer whose commit fails after its objects were put (here: the checkpoint moved under it) leaves
    // exactly what a crash between the puts and the commit leaves.
    const doomed = createColdProjection(options);
    await doomed.checkpoint();
    await store.sql`update cold_checkpoints set seq = 1 where projection = 'cold-crash'`;
    await expect(doomed.apply(events.slice(320, 700), 700)).rejects.toThrow(/another writer/);
    await store.sql`update cold_checkpoints set seq = 320 where projection = 'cold-crash'`;
    expect((await objectChecksums(store, 'crash')).size).toBeGreaterThan((await queryManifest(store.sql, { projection: 'cold-crash' })).length);

    // the restarted projector sees the redelivery in other batches
    const restarted = createColdProjection(options);
    expect(await restarted.checkpoint()).toBe(320);
    // readers never see the uncommitted rows meanwhile
    const visible: number[] = [];
    for await (const e of new ColdArchiveReader(options).events({ order: 'seq' })) visible.push(e.seq);
    expect(visible).toEqual(events.slice(0, 320).map((e) => e.seq));
    for (const [i, n] of [
      [320, 17],
      [337, 400],
      [737, 163],
    ] as const) {
      await restarted.apply(events.slice(i, i + n), i + n);
    }
    expect(await manifestSnapshot(store, 'cold-crash', 'crash')).toEqual(await manifestSnapshot(store, 'cold-main', 'main'));
    expect(await objectChecksums(store, 'crash')).toEqual(await objectChecksums(store, 'main'));
  });

  it('quarantines a payload field of another type through reject, and keeps old files readable as columns are added', async () => {
    const options = { store, name: 'cold-evolve', prefix: 'evolve', windowSize: 3 };
    const stream = [
      testEvent(1, { type: 'app.metric', time: '2024-03-01T00:00:01Z', data: { v: 1 } }),
      testEvent(2, { type: 'app.metric', time: '2024-03-01T00:00:02Z', data: { v: 2 } }),
      testEvent(3, { type: 'app.metric', time: '2024-03-01T00:00:03Z', data: { v: 3 } }),
      testEvent(4, { type: 'app.metric', time: '2024-03-01T00:00:04Z', data: { v: 4, w: 'new' } }),
      testEvent(5, { type: 'app.metric', time: '2024-03-01T00:00:05Z', data: { v: 'five' } }),
      testEvent(6, { type: 'app.metric', time: '2024-03-01T00:00:06Z', data: { v: 6, w: 'x', z: true } }),
      testEvent(7, { type: 'app.metric', time: '2024-03-01T00:00:07Z', data: { w: 7 } }),
      testEvent(8, { type: 'app.metric', time: 'not a time' }),
    ];
    const rejected = await project(options, stream, [2, 1, 4, 1]);
    expect(rejected).toEqual([
      '5: type conflict: data.v is STRING, but cold column data_v holds DOUBLE (since seq 1)',
      '7: type conflict: data.w is DOUBLE, but cold column data_w holds STRING (since seq 4)',
      '8: time is not an RFC 3339 timestamp',
    ]);
    const manifest = await queryManifest(store.sql, { projection: 'cold-evolve' });
    expect(manifest.map((m) => m.columns.slice(12).map((c) => `${c.name}:${c.type}`))).toEqual([['data_v:DOUBLE'], ['data_v:DOUBLE', 'data_w:STRING', 'data_z:BOOLEAN']]);
    const rows = await duckdbQuery(
      store,
      manifest.map((m) => m.key),
      `select seq, data_v, data_w, data_z from read_parquet($FILES, union_by_name = true) order by seq`,
    );
    expect(rows).toEqual([
      { seq: 1n, data_v: 1, data_w: null, data_z: null },
      { seq: 2n, data_v: 2, data_w: null, data_z: null },
      { seq: 3n, data_v: 3, data_w: null, data_z: null },
      { seq: 4n, data_v: 4, data_w: 'new', data_z: null },
      { seq: 6n, data_v: 6, data_w: 'x', data_z: true },
    ]);

    // Without the reject hook (a direct apply), a conflicting value is kept in `data` only.
    const direct = createColdProjection({ store, name: 'cold-direct', prefix: 'direct' });
    await direct.checkpoint();
    await direct.apply(stream.slice(0, 5), 5);
    const [object] = await queryManifest(store.sql, { projection: 'cold-direct' });
    expect(await duckdbQuery(store, [object!.key], `select seq, data_v, data->>'v' as raw from read_parquet($FILES) order by seq`)).toEqual([
      { seq: 1n, data_v: 1, raw: '1' },
      { seq: 2n, data_v: 2, raw: '2' },
      { seq: 3n, data_v: 3, raw: '3' },
      { seq: 4n, data_v: 4, raw: '4' },
      { seq: 5n, data_v: null, raw: 'five' },
    ]);
  });
});
