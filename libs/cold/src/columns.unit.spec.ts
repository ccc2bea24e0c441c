import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ColumnRegistry, flatValue, type FlatColumn } from './columns.ts';

describe('flattened payload columns', () => {
  it('registers scalar top-level fields with the type they first appear with, and flags later conflicts', () => {
    const registry = new ColumnRegistry(100);
    expect(registry.check('acme', 'x', { value: 1, name: 'a', ok: true, nested: { a: 1 }, list: [1], gone: null }, 1)).toBeUndefined();
    const stage = registry.stage();
    stage.plan('acme', 'x', { value: 1, name: 'a', ok: true, nested: { a: 1 }, list: [1], gone: null }, 1);
    registry.commit(stage, 1);
    expect(registry.columns('acme', 'x').map((c) => [c.name, c.type])).toEqual([
      ['data_name', 'STRING'],
      ['data_ok', 'BOOLEAN'],
      ['data_value', 'DOUBLE'],
    ]);
    expect(registry.check('acme', 'x', { value: 'high' }, 2)).toMatch(/data\.value is STRING, but cold column data_value holds DOUBLE \(since seq 1\)/);
    expect(registry.check('acme', 'x', { value: null, extra: 1 }, 3)).toBeUndefined();
    // another tenant, or another type, has columns of its own
    expect(registry.check('other', 'x', { value: 'high' }, 4)).toBeUndefined();
    expect(registry.check('acme', 'y', { value: 'high' }, 5)).toBeUndefined();
  });

  it('skips names that clash case-insensitively, non-identifier names, and fields beyond the column limit', () => {
    const registry = new ColumnRegistry(2);
    const stage = registry.stage();
    stage.plan('t', 'x', { Value: 1, value: 'x', 'a-b': 1, '1x': 2, b: 1, c: 2 }, 1);
    registry.commit(stage, 1);
    expect(registry.columns('t', 'x').map((c) => c.name)).toEqual(['data_Value', 'data_b']);
    // the clashing field never becomes a column, so it never conflicts
    expect(registry.check('t', 'x', { value: true }, 2)).toBeUndefined();
  });

  it('reads the typed value of a row, or null', () => {
    const column: FlatColumn = { name: 'data_v', field: 'v', type: 'DOUBLE', firstSeq: 1 };
    expect(flatValue({ v: 2 }, column)).toBe(2);
    expect(flatValue({ v: '2' }, column)).toBeNull();
    expect(flatValue(undefined, column)).toBeNull();
    expect(flatValue([1], column)).toBeNull();
  });

  it('quarantines the same events however the stream is cut into batches, and across retries', () => {
    const value = fc.oneof(fc.integer(), fc.string({ maxLength: 2 }), fc.boolean(), fc.constant(null));
    const payload = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'A'), value, { maxKeys: 3 });
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1 }), (payloads, cuts) => {
        const run = (batches: number[][], retryFirst: boolean): (string | undefined)[] => {
          const registry = new ColumnRegistry(3);
          const verdicts: (string | undefined)[] = [];
          for (const [b, batch] of batches.entries()) {
            if (retryFirst && b === 0) for (const i of batch) registry.check('t', 'x', payloads[i], i + 1); // an attempt that failed
            const stage = registry.stage();
            for (const i of batch) {
              const verdict = registry.check('t', 'x', payloads[i], i + 1);
              verdicts[i] = verdict;
              if (verdict === undefined) expect(stage.plan('t', 'x', payloads[i], i + 1)).toBeUndefined();
            }
            registry.commit(stage, batch.at(-1)! + 1);
          }
          return verdicts;
        };
        const indexes = payloads.map((_, i) => i);
        const single = run([indexes], false);
        const batches: number[][] = [];
        for (let i = 0, c = 0; i < indexes.length; c++) {
          const n = cuts[c % cuts.length]!;
          batches.push(indexes.slice(i, i + n));
          i += n;
        }
        expect(run(batches, true)).toEqual(single);
      }),
    );
  });
});
