import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColdArchiveReader, createColdProjection, migrateColdStore, openColdStore, tierWarmToCold, type ColdArchiveOptions, type ColdStore } from '@tideway/cold';
import type { ColdEventSource } from '@tideway/event-query';
import { eventSubject, type EventEnvelope, type StoredEvent } from '@tideway/events';
import { coldEventSource } from '@tideway/query';
import { createS3Bucket, type S3Bucket } from '@tideway/testing';
import { repoRoot, startPlatform, type Platform } from './platform.ts';
import { post, projected } from './query-fixtures.ts';

type Page = { items: { seq: number; event: Record<string, unknown> }[]; next_cursor: string | null };

describe('a range spanning warm and the cold archive (@tideway/cold)', () => {
  let platform: Platform;
  let bucket: S3Bucket;
  let store: ColdStore;
  let archive: ColdArchiveOptions;
  let inner: ColdEventSource | undefined;
  // The archive is wired before its store exists: the query service starts first.
  const cold: ColdEventSource = { read: (q) => (inner ? inner.read(q) : (async function* () {})()) };
  const T0 = Date.UTC(2026, 1, 10);
  const DAY = 86_400_000;

  /** 3 days of readings every 5 minutes, two devices; some with sensor_id 42. */
  const events = Array.from({ length: 864 }, (_, i) => ({
    specversion: '1.0',
    id: `cold-${i}`,
    source: 'urn:test:cold',
    type: i % 4 === 3 ? 'misc.other' : 'iot.sensor.reading',
    subject: `cd-${i % 2}`,
    time: new Date(T0 + i * 300_000 + (i % 3) * 17).toISOString(),
    data: { device_id: `cd-${i % 2}`, reading_value: i % 97, sensor_id: i % 5 === 0 ? 42 : i },
  }));

  beforeAll(async () => {
    platform = await startPlatform({ env: { TIDEWAY_AUTH: 'off', PROJECTIONS: 'warm' }, query: { cold } });
    await projected(platform, await post(platform, events));
    bucket = await createS3Bucket(process.env);
    store = openColdStore({ url: process.env['DATABASE_URL']!, schema: platform.env['DATABASE_SCHEMA']!, s3: bucket.client, bucket: bucket.name });
    await migrateColdStore(store, `${repoRoot}migrations/cold`);
    archive = { store, windowSize: 400, maxObjectBytes: 64 * 1024 };
    inner = coldEventSource(new ColdArchiveReader(archive));
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
    await store?.close();
    await bucket?.remove();
  });

  async function walk(params: Record<string, string>): Promise<number[]> {
    const seqs: number[] = [];
    let cursor: string | null = null;
    do {
      const q = new URLSearchParams({ ...params, ...(cursor ? { cursor } : {}) });
      const res = await fetch(`${platform.queryUrl}/v1/events?${q.toString()}`);
      if (res.status !== 200) throw new Error(`${res.status}: ${await res.text()}`);
      const page = (await res.json()) as Page;
      seqs.push(...page.items.map((i) => i.seq));
      cursor = page.next_cursor;
    } while (cursor);
    return seqs;
  }

  async function exported(params: Record<string, string>): Promise<number[]> {
    const text = await (await fetch(`${platform.queryUrl}/v1/exports/events?${new URLSearchParams(params).toString()}`)).text();
    return text.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
  }

  it('returns the same events, pages and exports after tiering as before', async () => {
    const from = new Date(T0 - DAY).toISOString();
    const to = new Date(T0 + 4 * DAY).toISOString();
    const queries: Record<string, string>[] = [
      { from, to, order: 'asc', limit: '71' },
      { from, to, order: 'desc', limit: '23', type: 'iot.sensor.reading', 'data.sensor_id': 'eq.42' },
      { from: new Date(T0 + DAY / 2).toISOString(), to: new Date(T0 + 2.5 * DAY).toISOString(), order: 'asc', limit: '50', subject: 'cd-1' },
    ];
    const before = await Promise.all(queries.map(walk));
    const exportBefore = await exported({ from, to, type: 'iot.sensor.reading' });
    expect(before[0]).toHaveLength(events.length);

    // The cold projection archives the log (here from the warm rows, as the cold-archiver consumer would from JetStream)...
    const scheme = { root: platform.env['TIDEWAY_SUBJECT_ROOT']!, partitions: 16 };
    const rows = await platform.store.sql<{ seq: string; attributes: Omit<EventEnvelope, 'data'>; data: unknown }[]>`select seq, attributes, data from events order by seq`;
    const stored: StoredEvent[] = rows.map((r) => {
      const event = { ...r.attributes, ...(r.data === null ? {} : { data: r.data }) } as EventEnvelope;
      return { seq: Number(r.seq), subject: eventSubject(scheme, event.tenant, event.type, event.partitionkey), event };
    });
    const projection = createColdProjection(archive);
    await projection.checkpoint();
    for (let i = 0; i < stored.length; i += 300) await projection.apply(stored.slice(i, i + 300), stored[Math.min(i + 299, stored.length - 1)]!.seq);

    // ...and tiering moves the first two days out of warm.
    const report = await tierWarmToCold({ warm: platform.store, archive, cutoffs: { cutoff: new Date(T0 + 2 * DAY) }, scheme });
    expect(report).toBeDefined();
    const [left] = await platform.store.sql<{ n: number; oldest: string }[]>`select count(*)::int as n, min(time)::text as oldest from events`;
    expect(left!.n).toBeLessThan(events.length / 2);
    expect(Date.parse(left!.oldest.replace(' ', 'T').replace(/\+00$/, 'Z'))).toBeGreaterThanOrEqual(T0 + 2 * DAY);

    const after = await Promise.all(queries.map(walk));
    expect(after).toEqual(before);
    expect(await exported({ from, to, type: 'iot.sensor.reading' })).toEqual(exportBefore);
  }, 120_000);
});
