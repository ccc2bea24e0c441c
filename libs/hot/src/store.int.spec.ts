import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntityReducers } from '@tideway/entities';
import type { StoredEvent } from '@tideway/events';
import { cleanupRedisPrefix, redisPrefix } from '@tideway/testing';
import {
  hotChecksum,
  HotProjectionStore,
  HotStoreReader,
  isHotStoreError,
  type HotProjectionStoreOptions,
} from './index.ts';
import { eventsAt, testClock } from './testing/fixtures.ts';

const REDIS_URL = process.env['REDIS_URL']!;
const NOW = testClock();
const ev = eventsAt(NOW - 3_600_000);
const MIN = 60_000;

describe('HotProjectionStore (Redis)', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const p of prefixes) await cleanupRedisPrefix(REDIS_URL, p);
    redis?.disconnect();
  });

  function fresh(options: Partial<HotProjectionStoreOptions> = {}): {
    store: HotProjectionStore;
    reader: HotStoreReader;
    prefix: string;
  } {
    const prefix = redisPrefix();
    prefixes.push(prefix);
    return {
      store: new HotProjectionStore({ redis, prefix, ...options }),
      reader: new HotStoreReader({ redis, prefix }),
      prefix,
    };
  }

  /** A mixed history: readings, orders, generic events, windows (with a session merge), anomalies and alerts. */
  function history(n: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (let seq = 1; seq <= n; seq++) {
      const m = seq % 10;
      if (m < 5) out.push(ev.reading(seq, `d${seq % 7}`, (seq * 13) % 100, seq % 3 === 0 ? 'other' : 'acme'));
      else if (m === 5) out.push(ev.order(seq, `c${seq % 4}`, seq / 10));
      else if (m === 6) out.push(ev.generic(seq, 'misc.thing', `t${seq % 5}`, { n: seq }));
      else if (m === 7)
        out.push(
          ev.window(seq, {
            key: `k${seq % 3}`,
            start: NOW - (20 - Math.floor(seq / 10)) * MIN,
            end: NOW - (19 - Math.floor(seq / 10)) * MIN,
            final: seq % 20 === 7,
          }),
        );
      else if (m === 8) out.push(ev.anomaly(seq, `k${seq % 3}`, NOW - (n - seq) * 1000));
      else out.push(ev.alert(seq, `k${seq % 3}`, NOW - (n - seq) * 1000));
    }
    return out;
  }

  async function applyInBatches(store: HotProjectionStore, events: StoredEvent[], size: number): Promise<void> {
    for (let i = 0; i < events.length; i += size) {
      const batch = events.slice(i, i + size);
      await store.apply(batch, batch.at(-1)!.seq);
    }
  }

  it('keeps the state each entity folds to with the shared reducers, and the checkpoint', async () => {
    const { store, reader } = fresh();
    const events = history(200);
    await applyInBatches(store, events, 64);
    expect(await store.checkpoint()).toBe(200);
    expect(await reader.checkpoint()).toBe(200);

    const reducers = new EntityReducers();
    const expected = new Map<string, unknown>();
    for (const { seq, event } of events) {
      const r = reducers.for(event.type);
      if (event.type.startsWith('tideway.')) continue;
      const ref = r.entityOf(event)!;
      const id = `${event.tenant}/${ref.entityType}/${ref.entityId}`;
      expected.set(id, r.reduce(expected.get(id) as never, event, seq));
    }
    for (const [id, state] of expected) {
      const [tenant, type, entity] = id.split('/') as [string, string, string];
      expect(await reader.getEntity(tenant, type, entity), id).toEqual(state);
    }
    expect(await reader.getEntity('acme', 'device', 'nope')).toBeUndefined();
    const [d1, missing] = await reader.getEntities('acme', [
      { entityType: 'device', entityId: 'd1' },
      { entityType: 'device', entityId: 'nope' },
    ]);
    expect(d1).toEqual(expected.get('acme/device/d1'));
    expect(missing).toBeUndefined();
  });

  it('re-applying the same batch changes nothing', async () => {
    const { store, prefix } = fresh();
    const events = history(100);
    await store.apply(events, 100);
    const before = await hotChecksum(redis, prefix);
    const again = await store.apply(events, 100);
    expect(again).toEqual({ applied: 0, skipped: 100, checkpoint: 100, dropped: 0 });
    expect(await hotChecksum(redis, prefix)).toEqual(before);
  });

  it('skips the part of an overlapping batch at or below the checkpoint, whatever the batch boundaries', async () => {
    const events = history(300);
    const a = fresh();
    await applyInBatches(a.store, events, 300);
    const b = fresh();
    await applyInBatches(b.store, events, 7);
    const c = fresh();
    // overlapping replays: 1..100, 51..200, 151..300
    for (const [from, to] of [
      [0, 100],
      [50, 200],
      [150, 300],
    ] as const) {
      const result = await c.store.apply(events.slice(from, to), to);
      expect(result.skipped).toBe(from === 0 ? 0 : 50);
      expect(result.applied).toBe(from === 0 ? 100 : 100);
    }
    const sum = await hotChecksum(redis, a.prefix);
    expect(sum.keys).toBeGreaterThan(20);
    expect(await hotChecksum(redis, b.prefix)).toEqual(sum);
    expect(await hotChecksum(redis, c.prefix)).toEqual(sum);
  });

  it('moves the checkpoint past events it keeps nothing for (quarantined ones in the runner)', async () => {
    const { store } = fresh();
    const result = await store.apply([ev.reading(3, 'd1', 1)], 9);
    expect(result).toEqual({ applied: 1, skipped: 0, checkpoint: 9, dropped: 0 });
    expect(await store.apply([], 12)).toMatchObject({ applied: 0, checkpoint: 12 });
    expect(await store.checkpoint()).toBe(12);
  });

  it('refuses, writing nothing, a batch planned against a checkpoint that moved meanwhile', async () => {
    const { store, prefix, reader } = fresh();
    const other = new HotProjectionStore({ redis, prefix });
    const events = history(40);
    await store.apply(events.slice(0, 20), 20);
    const prepared = await store.prepare(events.slice(20), 40);
    expect(prepared.basedOn).toBe(20);
    // a second writer gets there first
    await other.apply(events.slice(20, 30), 30);
    const between = await hotChecksum(redis, prefix);
    expect(await prepared.commit()).toBeUndefined();
    expect(await hotChecksum(redis, prefix)).toEqual(between);
    // apply plans again from the new checkpoint
    expect(await store.apply(events.slice(20), 40)).toMatchObject({ applied: 10, skipped: 10, checkpoint: 40 });
    const whole = fresh();
    await whole.store.apply(events, 40);
    expect(await hotChecksum(redis, prefix)).toEqual(await hotChecksum(redis, whole.prefix));
    expect(await reader.checkpoint()).toBe(40);
  });

  it('writes nothing of a batch when one of its keys holds a foreign type', async () => {
    const { store, reader, prefix } = fresh();
    await redis.hset(store.keys.entity('acme', 'device', 'd2'), 'f', 'v');
    const before = await hotChecksum(redis, prefix);
    const failure = store.apply([ev.reading(1, 'd1', 1), ev.reading(2, 'd2', 2), ev.anomaly(3, 'k', NOW)], 3);
    await expect(failure).rejects.toSatisfy((e: unknown) => isHotStoreError(e, 'hot-key-type-conflict'));
    expect(await hotChecksum(redis, prefix)).toEqual(before);
    expect(await reader.getEntity('acme', 'device', 'd1')).toBeUndefined();
    expect(await store.checkpoint()).toBe(0);
  });

  it('rejects values over maxValueBytes, and reports state that outgrows it later', async () => {
    const dropped: number[] = [];
    const growing = new EntityReducers([
      {
        eventType: 'x.grow',
        entityOf: () => ({ entityType: 'g', entityId: '1' }),
        reduce: (s, e) => ({ items: [...((s?.['items'] as unknown[]) ?? []), e.data] }),
      },
    ]);
    const { store, reader } = fresh({
      entities: growing,
      limits: { maxValueBytes: 200 },
      onDropped: (d) => dropped.push(...d.map((x) => x.seq)),
    });
    expect(store.reject(ev.generic(1, 'misc.blob', 's', 'x'.repeat(500)))).toMatch(
      /exceeds the hot store's limit of 200 bytes/,
    );
    expect(store.reject(ev.anomaly(1, 'k', NOW, { note: 'x'.repeat(300) }))).toMatch(/anomaly of \d+ bytes exceeds/);
    expect(store.reject(ev.generic(1, 'x.grow', 's', 'x'.repeat(50)))).toBeUndefined();
    const batch = [1, 2, 3, 4, 5].map((seq) => ev.generic(seq, 'x.grow', 's', 'x'.repeat(50)));
    expect(await store.apply(batch, 5)).toEqual({ applied: 3, skipped: 0, checkpoint: 5, dropped: 2 });
    expect(dropped).toEqual([4, 5]);
    expect(((await reader.getEntity('acme', 'g', '1')) as { items: unknown[] }).items).toHaveLength(3);
  });

  it('keeps open and closed window results per key, newest first, replacing updates and merged sessions', async () => {
    const { store, reader } = fresh({ ttl: { windowsMs: 60 * MIN }, limits: { maxWindowsPerKey: 3 } });
    const t = (m: number): number => NOW - m * MIN;
    await store.apply(
      [
        ev.window(1, { key: 'a', start: t(10), end: t(9), final: true, value: 1 }),
        ev.window(2, { key: 'a', start: t(9), end: t(8), value: 2 }),
        ev.window(3, { key: 'b', start: t(9), end: t(8), value: 3 }),
        ev.window(4, { key: 'a', start: t(9), end: t(8), final: true, value: 4 }), // update of seq 2's window
        ev.window(5, { key: 'a', start: t(8), end: t(7), value: 5 }),
        ev.window(6, { key: 'a', start: t(7), end: t(6), value: 6 }),
      ],
      6,
    );
    const a = await reader.windowResults('acme', 'p1', { stage: 's1', key: 'a' });
    expect(a.map((r) => [r.start, r.final, (r.data as { value: number }).value])).toEqual([
      [t(7), false, 6],
      [t(8), false, 5],
      [t(9), true, 4],
    ]); // capped at 3 per key: t(10) dropped
    expect((await reader.windowResults('acme', 'p1', { key: 'a', status: 'final' })).map((r) => r.seq)).toEqual([4]);
    expect(
      (await reader.windowResults('acme', 'p1', { key: 'a', status: 'open', limit: 1 })).map((r) => r.seq),
    ).toEqual([6]);
    expect((await reader.windowResults('acme', 'p1', { from: t(9), to: t(9) })).map((r) => [r.key, r.seq])).toEqual([
      ['a', 4],
      ['b', 3],
    ]);
    // a session merge replaces the windows it bridged
    await store.apply([ev.window(7, { key: 'a', start: t(8), end: t(5), replaces: [{ start: t(7), end: t(6) }] })], 7);
    expect((await reader.windowResults('acme', 'p1', { key: 'a' })).map((r) => [r.start, r.end, r.seq])).toEqual([
      [t(8), t(5), 7],
      [t(9), t(8), 4],
    ]);
    // retention: a window an hour newer pushes the old ones out, and the key expires an hour after its newest start
    await store.apply([ev.window(8, { key: 'a', start: t(-53), end: t(-54) })], 8);
    expect((await reader.windowResults('acme', 'p1', { key: 'a' })).map((r) => r.seq)).toEqual([8]);
    expect(await redis.pexpiretime(store.keys.windows('acme', 'p1', 's1', 'a'))).toBe(t(-53) + 60 * MIN);
    expect(await reader.windowResults('other', 'p1')).toEqual([]);
  });

  it('keeps recent anomalies and alerts per tenant, newest first, once each, within count and age limits', async () => {
    const { store, reader } = fresh({ ttl: { anomaliesMs: 10 * MIN }, limits: { maxAnomalies: 4 } });
    const t = (m: number): number => NOW - m * MIN;
    await store.apply(
      [
        ev.anomaly(1, 'k1', t(30)), // older than newest - 10 min: dropped
        ev.anomaly(2, 'k1', t(5)),
        ev.anomaly(3, 'k2', t(4)),
        ev.anomaly(4, 'k1', t(3)),
        ev.alert(5, 'k1', t(3)),
      ],
      5,
    );
    // the processor publishing the same anomaly again (same id, same content) at a later sequence
    const replayed = ev.anomaly(4, 'k1', t(3));
    await store.apply([{ ...replayed, seq: 6 }], 6);
    expect((await reader.recentAnomalies('acme')).map((a) => a.id)).toEqual(['e-4', 'e-3', 'e-2']);
    expect((await reader.recentAnomalies('acme', { key: 'k1' })).map((a) => a.id)).toEqual(['e-4', 'e-2']);
    expect((await reader.recentAnomalies('acme', { since: t(4), limit: 1 })).map((a) => a.id)).toEqual(['e-4']);
    expect(await redis.pexpiretime(store.keys.anomalies('acme'))).toBe(t(3) + 10 * MIN);
    const [alert] = await reader.recentAlerts('acme');
    expect(alert).toMatchObject({ id: 'e-5', type: 'tideway.alert.raised', key: 'k1', at: t(3) });
    await store.apply(
      [7, 8, 9].map((seq) => ev.anomaly(seq, 'k3', t(2) + seq)),
      9,
    );
    expect((await reader.recentAnomalies('acme')).map((a) => a.id)).toEqual(['e-9', 'e-8', 'e-7', 'e-4']);
  });

  it('drops derived items whose retention is over by event time, so a rebuild of old history agrees', async () => {
    const { store, reader } = fresh({ ttl: { anomaliesMs: MIN } });
    await store.apply([ev.anomaly(1, 'k', NOW - 5 * MIN)], 1);
    expect(await reader.recentAnomalies('acme')).toEqual([]);
    expect(await redis.exists(store.keys.anomalies('acme'))).toBe(0);
  });
});
