import type { StoredEvent } from '@tideway/events';
import { from, lastValueFrom, of, throwError, toArray, EMPTY, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { dedupeById, enrich, ofKind, validateEvents } from './helpers.ts';

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

function stored(id: string, data: unknown, time = '2024-05-01T12:00:00Z', partitionkey = 'sensor-1'): StoredEvent {
  return {
    seq: 1,
    subject: 'tideway.acme.iot.p0',
    event: {
      specversion: '1.0',
      id,
      source: '/sensors',
      type: 'iot.sensor.reading',
      time,
      tenant: 'acme',
      partitionkey,
      datacontenttype: 'application/json',
      recordedtime: time,
      data,
    },
  };
}

const envelopeAccessors = {
  key: (e: StoredEvent) => e.event.partitionkey,
  eventTime: (e: StoredEvent) => Date.parse(e.event.time),
  value: (e: StoredEvent) => (e.event.data as { value?: unknown } | undefined)?.value,
};

describe('validateEvents', () => {
  it('parses envelope fields once and routes bad ones to the invalid side output', async () => {
    const events = [
      stored('1', { value: 21.5 }),
      stored('2', { value: 'warm' }),
      stored('3', undefined),
      stored('4', { value: 1 }, 'not a time'),
      stored('5', { value: 1 }, '2999-01-01T00:00:00Z'),
      stored('6', { value: 2 }, '2024-05-01T12:00:00Z', ''),
    ];
    const out = await lastValueFrom(from(events).pipe(validateEvents(envelopeAccessors), toArray()));
    expect(out.map((o) => (o.kind === 'valid' ? ['valid', o.key, o.time, o.value] : [o.reason, o.event.event.id]))).toEqual([
      ['valid', 'sensor-1', Date.parse('2024-05-01T12:00:00Z'), 21.5],
      ['non-numeric-value', '2'],
      ['missing-value', '3'],
      ['invalid-event-time', '4'],
      ['future-event-time', '5'],
      ['missing-key', '6'],
    ]);
  });
});

describe('ofKind', () => {
  it('narrows a union stream to one kind', async () => {
    const items = [{ kind: 'a' as const, n: 1 }, { kind: 'b' as const }, { kind: 'a' as const, n: 2 }];
    const out = await lastValueFrom(from(items).pipe(ofKind('a'), toArray()));
    expect(out.map((a) => a.n)).toEqual([1, 2]);
  });
});

describe('enrich', () => {
  it('looks each key up once while cached and keeps input order', () => {
    const lookups: string[] = [];
    newScheduler().run(({ cold, expectObservable }) => {
      const lookup = (key: string): Observable<string> => {
        lookups.push(key);
        return cold('--v|', { v: key.toUpperCase() });
      };
      const source = cold('abac|', { a: 'x', b: 'y', c: 'x' });
      const out = source.pipe(enrich(lookup, { key: (s: string) => s }));
      // take(1) ends x's lookup at frame 2, so y's starts there and answers at 4; the repeats are cache hits.
      expectObservable(out).toBe('--a-(bcc|)', {
        a: { kind: 'enriched', event: 'x', key: 'x', value: 'X', cached: false },
        b: { kind: 'enriched', event: 'y', key: 'y', value: 'Y', cached: false },
        // 'a' again and 'c' (= 'x') come from the cache.
        c: { kind: 'enriched', event: 'x', key: 'x', value: 'X', cached: true },
      });
    });
    expect(lookups).toEqual(['x', 'y']);
  });

  it('expires cached values after ttlMs of scheduler time and evicts beyond maxEntries', () => {
    let lookups = 0;
    const lookup = (key: string): Observable<string> => {
      lookups++;
      return of(key);
    };
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a 5ms a 10ms a|', { a: 'k' });
      const out = source.pipe(enrich(lookup, { key: (s: string) => s, ttlMs: 10 }));
      expectObservable(out).toBe('a 5ms b 10ms c|', {
        a: { kind: 'enriched', event: 'k', key: 'k', value: 'k', cached: false },
        b: { kind: 'enriched', event: 'k', key: 'k', value: 'k', cached: true },
        c: { kind: 'enriched', event: 'k', key: 'k', value: 'k', cached: false },
      });
    });
    expect(lookups).toBe(2);

    lookups = 0;
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold('abca|', { a: 'a', b: 'b', c: 'c' });
      const out = source.pipe(enrich(lookup, { key: (s: string) => s, maxEntries: 2 }), ofKind('enriched'));
      expectObservable(out).toBe('abcd|', {
        a: { kind: 'enriched', event: 'a', key: 'a', value: 'a', cached: false },
        b: { kind: 'enriched', event: 'b', key: 'b', value: 'b', cached: false },
        c: { kind: 'enriched', event: 'c', key: 'c', value: 'c', cached: false },
        d: { kind: 'enriched', event: 'a', key: 'a', value: 'a', cached: false },
      });
    });
    expect(lookups).toBe(4);
  });

  it('shares one lookup between concurrent misses for the same key', async () => {
    let lookups = 0;
    const lookup = (key: string): Observable<number> => {
      lookups++;
      return of(key.length);
    };
    await lastValueFrom(from(['aa', 'aa', 'bbb', 'aa']).pipe(enrich(lookup, { key: (s) => s, concurrency: 4 }), toArray()));
    expect(lookups).toBe(2);
  });

  it('turns failed or empty lookups and missing keys into invalid side outputs and does not cache them', async () => {
    let calls = 0;
    const lookup = (key: string): Observable<number> => {
      calls++;
      if (key === 'boom') return throwError(() => new Error('store down'));
      if (key === 'none') return EMPTY;
      if (key === 'sync') throw new Error('thrown synchronously');
      return of(1);
    };
    const out = await lastValueFrom(
      from(['boom', 'none', 'sync', '', 'ok', 'boom']).pipe(enrich(lookup, { key: (s) => s }), toArray()),
    );
    expect(out.map((o) => (o.kind === 'invalid' ? `${o.reason}: ${o.detail ?? ''}` : o.kind))).toEqual([
      'lookup-failed: store down',
      'lookup-failed: lookup for none completed without a value',
      'lookup-failed: thrown synchronously',
      'missing-key: key is empty',
      'enriched',
      'lookup-failed: store down',
    ]);
    expect(calls).toBe(5);
  });
});

describe('dedupeById', () => {
  it('drops ids seen within the last maxIds ids', async () => {
    const out = await lastValueFrom(from(['a', 'b', 'a', 'c', 'd', 'a', 'd']).pipe(dedupeById((s) => s, { maxIds: 2 }), toArray()));
    // After c and d, a has been forgotten and passes again.
    expect(out).toEqual(['a', 'b', 'c', 'd', 'a']);
  });

  it('forgets ids after ttlMs of scheduler time', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a-a 10ms a|');
      expectObservable(source.pipe(dedupeById((s) => s, { ttlMs: 5 }))).toBe('a-- 10ms a|');
    });
  });

  it('passes events whose id cannot be read, since they cannot be de-duplicated', async () => {
    const items = [{ id: 1 }, { id: 1 }, {}, {}, { id: '1' }];
    const out = await lastValueFrom(from(items).pipe(dedupeById((e: { id?: number | string }) => e.id as number, { maxIds: 10 }), toArray()));
    expect(out).toEqual([{ id: 1 }, {}, {}, { id: '1' }]);
  });

  it('needs a bound', () => {
    expect(() => dedupeById((s: string) => s, {})).toThrow(/maxIds, ttlMs/);
  });
});
