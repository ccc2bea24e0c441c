import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendRows, assertPrefix, objectKey, windowOf, type Part } from './layout.ts';
import type { ColdRow } from './parquet.ts';

const row = (seq: number, size: number): ColdRow => ({ seq, size }) as ColdRow;

describe('object layout', () => {
  it('cuts the stream into fixed windows of sequences', () => {
    expect(windowOf(1, 100)).toEqual({ start: 1, end: 100 });
    expect(windowOf(100, 100)).toEqual({ start: 1, end: 100 });
    expect(windowOf(101, 100)).toEqual({ start: 101, end: 200 });
  });

  it('names objects by partition and zero-padded sequence range, so keys sort in stream order', () => {
    expect(objectKey('events', 'acme', 'iot.sensor.reading', '2024-03-01', 5, 100)).toBe(
      'events/tenant=acme/type=iot.sensor.reading/date=2024-03-01/00000000000000000005-00000000000000000100.parquet',
    );
  });

  it('accepts only safe prefixes', () => {
    expect(assertPrefix('shadow/r1/events')).toBe('shadow/r1/events');
    for (const bad of ['', '/events', 'events/', 'a//b', 'a/../b', 'a b']) expect(() => assertPrefix(bad)).toThrow(/prefix/);
  });

  it('starts a new object when the next row would pass the size bound; a huge row gets one of its own', () => {
    const parts = appendRows(undefined, [row(1, 40), row(2, 40), row(3, 40), row(4, 500), row(5, 10)], 100);
    expect(parts.map((p) => [p.firstSeq, p.rows.map((r) => r.seq)])).toEqual([
      [1, [1, 2]],
      [3, [3]],
      [4, [4]],
      [5, [5]],
    ]);
  });

  it('leaves the committed open object untouched', () => {
    const last: Part = { firstSeq: 1, rows: [row(1, 10)], bytes: 10 };
    appendRows(last, [row(2, 10)], 100);
    expect(last.rows).toHaveLength(1);
    expect(last.bytes).toBe(10);
  });

  it('gives the same objects however the rows are split into batches', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 60 }),
        (sizes, cuts) => {
          const rows = sizes.map((s, i) => row(i + 1, s));
          const whole = appendRows(undefined, rows, 200);
          // replay in batches, keeping only the last (open) part between batches, as the projection does
          const closed: Part[] = [];
          let open: Part | undefined;
          let i = 0;
          for (let c = 0; i < rows.length; c++) {
            const n = cuts[c % cuts.length]!;
            const touched = appendRows(open, rows.slice(i, i + n), 200);
            i += n;
            if (open && touched[0]?.firstSeq !== open.firstSeq) closed.push(open);
            closed.push(...touched.slice(0, -1));
            open = touched.at(-1);
          }
          const batched = [...closed, open!];
          expect(batched.map((p) => [p.firstSeq, p.rows.map((r) => r.seq)])).toEqual(whole.map((p) => [p.firstSeq, p.rows.map((r) => r.seq)]));
        },
      ),
    );
  });
});
