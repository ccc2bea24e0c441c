import { describe, expect, it } from 'vitest';
import { EntityReducers, type EntityState } from '@tideway/entities';
import { HotKeys, keySegment, unescapeKeySegment } from './keys.ts';
import { planBatch, rejectReason } from './plan.ts';
import { resolveSettings } from './store.ts';
import { eventsAt } from './testing/fixtures.ts';

const BASE = Date.UTC(2026, 0, 1);
const ev = eventsAt(BASE);
const settings = resolveSettings({ prefix: 'p:', limits: { maxValueBytes: 2048 } });

describe('hot key layout', () => {
  it('keeps ids with separators apart', () => {
    const keys = new HotKeys('p:');
    expect(keys.entity('acme', 'device', 'a:b')).not.toBe(keys.entity('acme', 'device:a', 'b'));
    expect(keys.entity('acme', 'device', 'd-1')).toBe('p:acme:ent:device:d-1');
    for (const s of ['a:b', '%3A', 'x%25:y', 'plain']) expect(unescapeKeySegment(keySegment(s))).toBe(s);
  });

  it('refuses an empty prefix and glob characters', () => {
    expect(() => new HotKeys('')).toThrow(/must not be empty/);
    expect(() => new HotKeys('a*:')).toThrow(/glob/);
  });
});

describe('planBatch', () => {
  it('folds each entity with the shared reducers and writes only its final state', () => {
    const batch = [ev.reading(1, 'd1', 10), ev.reading(2, 'd2', 5), ev.reading(3, 'd1', 30), ev.order(4, 'c1', 12.5)];
    const plan = planBatch(settings, batch, new Map());
    const sets = plan.ops.filter((o) => o.op === 'set');
    expect(sets.map((o) => [o.key, o.seq])).toEqual([
      ['p:acme:ent:device:d1', 3],
      ['p:acme:ent:device:d2', 2],
      ['p:acme:ent:customer:c1', 4],
    ]);
    const reducer = new EntityReducers().for('iot.sensor.reading');
    const expected = reducer.reduce(reducer.reduce(undefined, batch[0]!.event, 1), batch[2]!.event, 3);
    expect(JSON.parse(sets[0]!.a1)).toEqual(expected);
    expect(sets[0]!.a2).toBe('0'); // no entity TTL by default
  });

  it('continues from the state read from Redis', () => {
    const previous: EntityState = { last_value: 1, count: 4, sum: 10, min: 1, max: 4, mean: 2.5, ewma: 2, last_seq: 7 };
    const plan = planBatch(settings, [ev.reading(8, 'd1', 20)], new Map([['p:acme:ent:device:d1', previous]]));
    expect(JSON.parse(plan.ops[0]!.a1)).toMatchObject({ count: 5, sum: 30, max: 20, last_seq: 8 });
  });

  it('expires entity state relative to the recorded time of its last event when an entity TTL is set', () => {
    const withTtl = resolveSettings({ prefix: 'p:', ttl: { entityMs: 60_000 } });
    const e = ev.reading(1, 'd1', 1);
    const [op] = planBatch(withTtl, [e], new Map()).ops;
    expect(Number(op!.a2)).toBe(Date.parse(e.event.recordedtime) + 60_000);
  });

  it('upserts windows by start, removes replaced sessions, and trims every zset it touched once', () => {
    const batch = [
      ev.window(1, { key: 'k', start: 1000, end: 2000 }),
      ev.window(2, { key: 'k', start: 1000, end: 2500, replaces: [{ start: 2200, end: 2500 }] }),
      ev.anomaly(3, 'k', BASE),
    ];
    const plan = planBatch(settings, batch, new Map());
    expect(plan.ops.map((o) => `${o.op} ${o.key} ${o.a1}`)).toEqual([
      'zput p:acme:win:p1:s1:k 1000',
      'zmax p:acme:winkeys:p1 1000',
      'zdel p:acme:win:p1:s1:k 2200',
      'zput p:acme:win:p1:s1:k 1000',
      'zmax p:acme:winkeys:p1 1000',
      `zadd p:acme:anomalies ${BASE}`,
      'ztrim p:acme:win:p1:s1:k 86400000',
      'ztrim p:acme:winkeys:p1 86400000',
      'ztrim p:acme:anomalies 86400000',
    ]);
    expect(plan.ops[1]!.a2).toBe('s1:k');
    expect(plan.ops.find((o) => o.op === 'ztrim')!.seq).toBe(2);
  });

  it('drops an entity effect whose state outgrows the limit, keeping the previous state', () => {
    const growing = new EntityReducers([
      {
        eventType: 'x.grow',
        entityOf: () => ({ entityType: 'g', entityId: '1' }),
        reduce: (s, e) => ({ items: [...((s?.['items'] as unknown[]) ?? []), e.data] }),
      },
    ]);
    const small = resolveSettings({ prefix: 'p:', entities: growing, limits: { maxValueBytes: 100 } });
    const batch = [1, 2, 3, 4].map((seq) => ev.generic(seq, 'x.grow', 's', 'x'.repeat(30)));
    expect(rejectReason(small, batch[0]!)).toBeUndefined();
    const plan = planBatch(small, batch, new Map());
    expect(plan.dropped.map((d) => d.seq)).toEqual([3, 4]);
    expect((JSON.parse(plan.ops[0]!.a1) as { items: unknown[] }).items).toHaveLength(2);
  });
});

describe('rejectReason', () => {
  it('names values over the limit and derived events of the wrong shape', () => {
    expect(rejectReason(settings, ev.generic(1, 'misc.blob', 's', 'x'.repeat(4096)))).toMatch(
      /exceeds the hot store's limit of 2048 bytes/,
    );
    expect(rejectReason(settings, ev.generic(1, 'tideway.window.result', 's', { window: {} }))).toMatch(
      /not a window result: pipeline/,
    );
    expect(rejectReason(settings, ev.generic(1, 'tideway.anomaly.detected', 's', { key: 'k' }))).toMatch(
      /not an anomaly/,
    );
    expect(rejectReason(settings, ev.window(1, { key: 'k', start: 0, end: 1 }))).toBeUndefined();
    expect(rejectReason(settings, ev.reading(1, 'd1', 3))).toBeUndefined();
    expect(rejectReason(settings, ev.generic(1, 'misc.nosubject', undefined, 'x'.repeat(4096)))).toBeUndefined(); // kept nowhere
  });

  it('ignores derived types in an instance that keeps none, and entities in one that keeps only derived events', () => {
    const entitiesOnly = resolveSettings({ prefix: 'p:', derived: false });
    const derivedOnly = resolveSettings({ prefix: 'p:', entities: false });
    const win = ev.window(1, { key: 'k', start: 1, end: 2 });
    expect(planBatch(entitiesOnly, [win], new Map()).ops.map((o) => o.op)).toEqual(['set']); // generic entity tideway.window.result/k
    expect(planBatch(derivedOnly, [ev.reading(2, 'd', 1)], new Map()).ops).toEqual([]);
    expect(() => resolveSettings({ prefix: 'p:', entities: false, derived: false })).toThrow(/keep nothing/);
  });
});
