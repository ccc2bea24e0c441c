import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type StoredEvent } from '@tideway/events';
import { createPgSchema, createS3Bucket, type PgSchema, type S3Bucket } from '@tideway/testing';
import { WarmProjection, migrateWarmStore, openWarmStore, type WarmStore } from '@tideway/warm';
import {
  ColdArchiveReader,
  createColdProjection,
  migrateColdStore,
  openColdStore,
  queryManifest,
  retentionCutoffs,
  tierWarmToCold,
  type ColdArchiveOptions,
  type ColdStore,
  type TierWarmToColdOptions,
} from './index.ts';
import { getObjectBytes } from './objects.ts';
import { mixedStream, testEvent } from './spec-helpers.ts';
import { parseTimeMicros } from './time.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const scheme = { root: 'tw', partitions: 16 };

/**
 * The event log of these tests: four days of mixed events; a reading whose payload conflicts with its column
 * (the cold projection quarantines it); and, at the end, old events the cold projection has not reached yet.
 */
function history(): StoredEvent[] {
  const events = mixedStream(1200, { tenants: 2, days: 4 }).map((e) =>
    e.seq === 300 ? testEvent(300, { tenant: 't1', time: e.event.time, data: { device_id: 'd-1', reading_value: 'broken' } }) : e,
  );
  for (let seq = 1201; seq <= 1210; seq++) {
    events.push(testEvent(seq, { tenant: 't0', time: `2024-02-27T12:00:${String(seq - 1200).padStart(2, '0')}.000001Z`, data: { device_id: 'late', reading_value: seq } }));
  }
  events.push(testEvent(1211, { tenant: 't1', type: 'app.audit', time: '2024-02-20T08:00:00Z', data: { who: 'x' } }));
  return events;
}

const cutoffs = { cutoff: new Date('2024-03-01T00:00:00Z'), byType: { 'commerce.order.placed': new Date('2024-02-29T00:00:00Z') } };
const eligible = (e: StoredEvent): boolean => parseTimeMicros(e.event.time) < BigInt((cutoffs.byType[e.event.type as 'commerce.order.placed'] ?? cutoffs.cutoff).getTime()) * 1000n;

async function warmSeqs(warm: WarmStore): Promise<number[]> {
  return (await warm.sql<{ seq: string }[]>`select seq from events order by seq`).map((r) => Number(r.seq));
}

async function archived(archive: ColdArchiveOptions): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of new ColdArchiveReader(archive).events({ order: 'seq' })) out.push(e);
  return out;
}

/**
 * One tiering scenario on a warm `events` table made by `createEvents`: the cold projection archived events
 * 101..1200 (it started late, and quarantined seq 300), warm holds all 1210.
 */
/** Inserts events into a warm `events` table made by a test, with plain SQL (as the warm projection maps them). */
async function insertWarmRows(warm: WarmStore, events: readonly StoredEvent[]): Promise<void> {
  const rows = events.map(({ seq, event }) => {
    const { data, ...attributes } = event;
    return {
      seq,
      tenant: event.tenant,
      id: event.id,
      source: event.source,
      type: event.type,
      subject: event.subject ?? null,
      time: event.time,
      recorded_time: event.recordedtime,
      partition_key: event.partitionkey,
      attributes: JSON.stringify(attributes),
      data: data === undefined ? null : JSON.stringify(data),
    };
  });
  await warm.sql`insert into events ${warm.sql(rows)}`;
}

const COLUMNS = `
  seq bigint not null, tenant text not null, id text not null, source text not null, type text not null, subject text,
  time timestamp(6) with time zone not null, recorded_time timestamp(6) with time zone not null, partition_key text not null,
  attributes jsonb not null, data jsonb`;

function scenario(
  title: string,
  writeWarm: (warm: WarmStore, events: readonly StoredEvent[]) => Promise<void>,
  expectDropped: (run: 'first' | 'last', dropped: readonly string[]) => void,
): void {
  describe(title, () => {
    let pg: PgSchema;
    let bucket: S3Bucket;
    let warm: WarmStore;
    let store: ColdStore;
    let archive: ColdArchiveOptions;
    const events = history();
    const bySeq = new Map(events.map((e) => [e.seq, e]));
    let options: TierWarmToColdOptions;

    beforeAll(async () => {
      pg = await createPgSchema(process.env['DATABASE_URL']!);
      bucket = await createS3Bucket(process.env);
      warm = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 3 });
      await writeWarm(warm, events);
      expect(await warmSeqs(warm)).toEqual(events.map((e) => e.seq));
      store = openColdStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, s3: bucket.client, bucket: bucket.name });
      await migrateColdStore(store, `${repo}migrations/cold`);
      archive = { store, windowSize: 200, maxObjectBytes: 16 * 1024 };
      const projection = createColdProjection(archive);
      await projection.checkpoint();
      const live = events.filter((e) => e.seq > 100 && e.seq <= 1200);
      for (let i = 0; i < live.length; i += 150) {
        const batch = live.slice(i, i + 150);
        await projection.apply(
          batch.filter((e) => projection.reject(e) === undefined),
          batch.at(-1)!.seq,
        );
      }
      options = { warm, archive, cutoffs, scheme };
    });

    afterAll(async () => {
      await Promise.all([warm?.close(), store?.close()]);
      await bucket?.remove();
      await pg?.drop();
    });

    it('refuses to remove events whose cold object does not match its manifest row', async () => {
      const [victim] = await queryManifest(store.sql, { projection: 'cold-events', tenant: 't0', type: 'iot.sensor.reading', dateTo: '2024-02-27', origin: 'projection' });
      expect(victim).toBeDefined();
      const original = await getObjectBytes(store.s3, store.bucket, victim!.key);
      const damaged = Buffer.from(original);
      damaged.writeUInt8(damaged.readUInt8(damaged.length - 20) ^ 0xff, damaged.length - 20);
      await store.s3.putObject(store.bucket, victim!.key, damaged, damaged.length);
      const before = await warmSeqs(warm);
      await expect(tierWarmToCold(options)).rejects.toMatchObject({ code: ErrorCode.ArchiveIntegrity });
      const after = new Set(await warmSeqs(warm));
      for (let seq = victim!.seqMin; seq <= victim!.seqMax; seq++) if (before.includes(seq)) expect(after.has(seq)).toBe(true);
      await store.s3.putObject(store.bucket, victim!.key, original, original.length);
    });

    it('moves aged-out events to cold, each exactly once, and leaves the rest in warm', async () => {
      const report = await tierWarmToCold(options);
      const old = events.filter(eligible);
      const deferred = old.filter((e) => e.seq > 1200); // beyond the cold checkpoint, not archived yet
      expect(deferred).toHaveLength(11);
      expect(report).toMatchObject({ eligible: old.length, deferred: 11, unarchivable: 0 });
      expect(report.archived + report.backfilled + report.deferred).toBe(report.eligible);
      expect(report.removed).toBe(old.length - 11);
      // what the cold projection never saw (before its start, or quarantined by it) was backfilled from warm,
      // in this run or in the refused one before it
      const backfilled = old.filter((e) => e.seq <= 100 || e.seq === 300);
      const objects = await queryManifest(store.sql, { projection: 'cold-events', origin: 'backfill' });
      expect(objects.reduce((n, o) => n + o.rowCount, 0)).toBe(backfilled.length);
      expect(report.backfilled).toBeGreaterThan(0);

      // warm keeps exactly the young events and the deferred ones
      const kept = events.filter((e) => !eligible(e) || e.seq > 1200).map((e) => e.seq);
      expect(await warmSeqs(warm)).toEqual(kept);

      // cold has every archived event exactly once, readable through the reader, equal to the source
      const cold = await archived(archive);
      const seqs = cold.map((e) => e.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      const expected = events.filter((e) => (e.seq > 100 && e.seq <= 1200 && e.seq !== 300) || (eligible(e) && e.seq <= 1200));
      expect(seqs).toEqual(expected.map((e) => e.seq));
      for (const e of cold) expect(e).toEqual(bySeq.get(e.seq));
      // and a time-range query over the tiered days finds them
      const day: StoredEvent[] = [];
      for await (const e of new ColdArchiveReader(archive).events({ tenant: 't1', from: '2024-02-28T00:00:00Z', to: '2024-02-29T00:00:00Z' })) day.push(e);
      expect(day.map((e) => e.seq).sort((a, b) => a - b)).toEqual(
        events.filter((e) => e.event.tenant === 't1' && e.event.time >= '2024-02-28' && e.event.time < '2024-02-29').map((e) => e.seq),
      );
      expectDropped('first', report.droppedPartitions);
    });

    it('is idempotent, and moves the deferred events once the cold projection has them', async () => {
      const again = await tierWarmToCold(options);
      expect(again).toMatchObject({ eligible: 11, backfilled: 0, backfillObjects: 0, deferred: 11, removed: 0, droppedPartitions: [] });

      const projection = createColdProjection(archive);
      await projection.checkpoint();
      await projection.apply(events.filter((e) => e.seq > 1200), 1211);
      const last = await tierWarmToCold(options);
      expect(last).toMatchObject({ eligible: 11, archived: 11, backfilled: 0, deferred: 0, removed: 11 });
      expectDropped('last', last.droppedPartitions);
      expect(await warmSeqs(warm)).toEqual(events.filter((e) => !eligible(e)).map((e) => e.seq));
      const cold = await archived(archive);
      expect(new Set(cold.map((e) => e.seq)).size).toBe(cold.length);
      expect(cold.filter((e) => e.seq > 1200)).toEqual(events.filter((e) => e.seq > 1200));
    });

    it('computes per-type cutoffs from a retention policy', () => {
      const now = new Date('2024-03-08T00:00:00Z');
      expect(retentionCutoffs({ defaultMs: 7 * 86_400_000, byTypeMs: { 'commerce.order.placed': 9 * 86_400_000 } }, now)).toEqual({
        cutoff: new Date('2024-03-01T00:00:00Z'),
        byType: { 'commerce.order.placed': new Date('2024-02-28T00:00:00Z') },
      });
    });
  });
}

scenario(
  'tiering from the warm store as migrated (daily partitions the warm projection creates)',
  async (warm, events) => {
    await migrateWarmStore(warm, `${repo}migrations`);
    await new WarmProjection(warm).apply(events, events.at(-1)!.seq);
  },
  (run, dropped) => {
    // first: 02-28 is all old and all archived; 02-27 and 02-20 still hold deferred events; 02-29 holds young
    // orders. Last: the deferred events are archived now.
    expect(dropped).toEqual(run === 'first' ? ['events_p20240228'] : ['events_p20240220', 'events_p20240227']);
  },
);

scenario(
  'tiering from an unpartitioned warm events table',
  async (warm, events) => {
    await warm.sql.unsafe(`create table events (${COLUMNS}, primary key (seq))`);
    await insertWarmRows(warm, events);
  },
  (_run, dropped) => expect(dropped).toEqual([]),
);

scenario(
  'tiering from a warm events table partitioned by day, with a default partition',
  async (warm, events) => {
    await warm.sql.unsafe(`create table events (${COLUMNS}, primary key (seq, time)) partition by range (time)`);
    await warm.sql.unsafe(`create table events_default partition of events default`);
    for (let day = 27; day <= 33; day++) {
      const from = new Date(Date.UTC(2024, 1, day)).toISOString().slice(0, 10);
      const to = new Date(Date.UTC(2024, 1, day + 1)).toISOString().slice(0, 10);
      await warm.sql.unsafe(`create table events_${from.replaceAll('-', '')} partition of events for values from ('${from}T00:00:00Z') to ('${to}T00:00:00Z')`);
    }
    await insertWarmRows(warm, events); // the 02-20 event lands in the default partition
  },
  (run, dropped) => {
    expect(dropped.map((d) => d.replace(/^.*\./, ''))).toEqual(run === 'first' ? ['events_20240228'] : ['events_20240227']);
  },
);
