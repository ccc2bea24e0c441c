import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope, StoredEvent } from '@tideway/events';
import { createPgSchema, type PgSchema } from '@tideway/testing';
import { WarmProjection, migrateWarmStore, openWarmStore, type WarmStore } from '@tideway/warm';
import { InMemoryColdEventSource, type EventRow } from './cold.ts';
import { timeKey } from './cursor.ts';
import { EventSearch, type EventSearchFilter } from './event-search.ts';
import { aggregateEvents } from './aggregates.ts';
import { storedEventTypes } from './catalog.ts';
import { matchesPredicate, parsePredicates } from './predicates.ts';

const migrations = fileURLToPath(new URL('../../../migrations', import.meta.url));
const T0 = Date.UTC(2026, 1, 1);

const payloads: unknown[] = [
  { sensor_id: 42, value: 100.5, name: 'alpha' },
  { sensor_id: '42', value: 7, name: "o'brien; drop table events;--" },
  { sensor_id: 7, value: -3, name: 'Beta%', tags: ['x', 'y'] },
  { sensor_id: 42, value: '100', name: 'ünïcode' },
  { nested: { deep: { v: 5 } }, value: null, name: 'gamma' },
  null,
  { value: 1e3, name: 'delta_1', sensor_id: 42.5 },
];

function event(i: number): StoredEvent {
  const e: EventEnvelope = {
    specversion: '1.0',
    id: `e-${i}`,
    source: i % 3 === 0 ? 'urn:a' : 'urn:b',
    type: i % 2 === 0 ? 'iot.sensor.reading' : 'misc.thing',
    subject: `s-${i % 5}`,
    // several events share a time: the seq breaks ties
    time: new Date(T0 + Math.floor(i / 3) * 1000).toISOString(),
    tenant: i % 10 === 9 ? 'other' : 'acme',
    partitionkey: 'k',
    datacontenttype: 'application/json',
    recordedtime: new Date(T0).toISOString(),
    ...(payloads[i % payloads.length] === null ? {} : { data: payloads[i % payloads.length] }),
  };
  return { seq: i + 1, subject: 'x', event: e };
}

describe('event search over the warm store', () => {
  let pg: PgSchema;
  let store: WarmStore;
  let search: EventSearch;
  const all = Array.from({ length: 240 }, (_, i) => event(i));
  const acme = all.filter((e) => e.event.tenant === 'acme');

  beforeAll(async () => {
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    store = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 2 });
    await migrateWarmStore(store, migrations);
    await new WarmProjection(store).apply(all, all.length);
    search = new EventSearch(store);
  });
  afterAll(async () => {
    await store?.close();
    await pg?.drop();
  });

  async function walk(s: EventSearch, filter: EventSearchFilter, order: 'asc' | 'desc', limit: number) {
    const seqs: number[] = [];
    let cursor: string | undefined;
    const cursors: string[] = [];
    do {
      const page = await s.page(filter, { order, limit, ...(cursor ? { cursor } : {}) });
      seqs.push(...page.items.map((i) => i.seq));
      cursor = page.nextCursor;
      if (cursor) cursors.push(cursor);
    } while (cursor);
    return { seqs, cursors };
  }

  it('walks a range forwards and back with next and prev cursors, in (time, seq) order', async () => {
    const expected = acme.map((e) => e.seq);
    const { seqs } = await walk(search, { tenant: 'acme' }, 'asc', 7);
    expect(seqs).toEqual(expected);
    const desc = await walk(search, { tenant: 'acme' }, 'desc', 11);
    expect(desc.seqs).toEqual([...expected].reverse());

    // forward three pages, then back with prev cursors: the same pages again
    const p1 = await search.page({ tenant: 'acme' }, { order: 'asc', limit: 5 });
    expect(p1.prevCursor).toBeUndefined();
    const p2 = await search.page({ tenant: 'acme' }, { order: 'asc', limit: 5, cursor: p1.nextCursor! });
    const p3 = await search.page({ tenant: 'acme' }, { order: 'asc', limit: 5, cursor: p2.nextCursor! });
    const back2 = await search.page({ tenant: 'acme' }, { order: 'asc', limit: 5, cursor: p3.prevCursor! });
    expect(back2.items.map((i) => i.seq)).toEqual(p2.items.map((i) => i.seq));
    const back1 = await search.page({ tenant: 'acme' }, { order: 'asc', limit: 5, cursor: back2.prevCursor! });
    expect(back1.items.map((i) => i.seq)).toEqual(p1.items.map((i) => i.seq));
    expect(back1.prevCursor).toBeUndefined();
    const again3 = await search.page({ tenant: 'acme' }, { order: 'asc', limit: 5, cursor: back2.nextCursor! });
    expect(again3.items.map((i) => i.seq)).toEqual(p3.items.map((i) => i.seq));
  });

  it('evaluates payload predicates in SQL exactly as in JavaScript (the cold path), for hostile operands too', async () => {
    const operand = fc.oneof(
      fc.constantFrom('42', '7', '100', '100.5', '-3', '1e3', 'alpha', "o'brien; drop table events;--", 'Beta%', 'B*', '%a%', '_', "'", '"', '\\', ')', '(42,7)', '("42",x)'),
      fc.string({ maxLength: 12 }),
    );
    const field = fc.constantFrom('data.sensor_id', 'data.value', 'data.name', 'data.nested.deep.v', 'data.tags.0', 'data.missing');
    const op = fc.constantFrom('eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'in');
    await fc.assert(
      fc.asyncProperty(field, op, operand, async (f, o, v) => {
        const value = o === 'in' ? (v.startsWith('(') ? v : `(${v})`) : v;
        let predicates;
        try {
          predicates = parsePredicates({ [f]: `${o}.${value}` });
        } catch {
          return; // rejected: harmless
        }
        const page = await search.page({ tenant: 'acme', predicates }, { order: 'asc', limit: 1000 });
        const expected = acme.filter((e) => predicates.every((p) => matchesPredicate(e.event.data, p))).map((e) => e.seq);
        expect(page.items.map((i) => i.seq), `${f}=${o}.${value}`).toEqual(expected);
      }),
      { numRuns: 150 },
    );
    expect((await search.page({ tenant: 'acme' }, { order: 'asc', limit: 1000 })).items).toHaveLength(acme.length);
  });

  it('merges the cold archive in order and drops rows both tiers hold', async () => {
    const cutoff = acme[Math.floor(acme.length / 2)]!.event.time;
    const rows = (events: StoredEvent[]): EventRow[] => events.map((e) => ({ t: timeKey(e.event.time), s: e.seq, event: e.event }));
    // cold holds everything before the cutoff plus a few rows that warm still has (tiering in progress)
    const coldEvents = all.filter((e) => e.event.time < cutoff || e.seq % 17 === 0);
    const before = await walk(search, { tenant: 'acme', type: 'iot.sensor.reading' }, 'asc', 9);
    const beforeDesc = await walk(search, { tenant: 'acme', predicates: parsePredicates({ 'data.sensor_id': 'eq.42' }) }, 'desc', 4);
    await store.sql`delete from events where time < ${cutoff}`;
    const tiered = new EventSearch(store, new InMemoryColdEventSource(rows(coldEvents)));
    expect((await walk(tiered, { tenant: 'acme', type: 'iot.sensor.reading' }, 'asc', 9)).seqs).toEqual(before.seqs);
    expect((await walk(tiered, { tenant: 'acme', predicates: parsePredicates({ 'data.sensor_id': 'eq.42' }) }, 'desc', 4)).seqs).toEqual(beforeDesc.seqs);
    const streamed: number[] = [];
    for await (const r of tiered.iterate({ tenant: 'acme', type: 'iot.sensor.reading' }, 'asc', 5)) streamed.push(r.seq);
    expect(streamed).toEqual(before.seqs);
  });

  it('aggregates by time bucket and fields in PostgreSQL', async () => {
    const result = await aggregateEvents(store, {
      tenant: 'acme',
      from: new Date(T0).toISOString(),
      to: new Date(T0 + 86_400_000).toISOString(),
      bucket: '1h',
      groupBy: ['type'],
      functions: ['count', 'sum', 'avg', 'min', 'max', 'p50'],
      value: 'data.value',
      maxRows: 100,
    });
    expect(result.truncated).toBe(false);
    const rows = Object.fromEntries(result.rows.map((r) => [r.group['type'], r.values]));
    expect(Object.keys(rows).sort()).toEqual(['iot.sensor.reading', 'misc.thing']);
    const total = result.rows.reduce((n, r) => n + (r.values['count'] ?? 0), 0);
    expect(total).toBeGreaterThan(0);
    expect(result.rows.every((r) => r.bucket === '2026-02-01T00:00:00Z')).toBe(true);
  });

  it('lists the event types a tenant stored', async () => {
    expect(await storedEventTypes(store, 'acme')).toEqual(['iot.sensor.reading', 'misc.thing']);
    expect(await storedEventTypes(store, 'nobody')).toEqual([]);
  });
});
