import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { combine, count, distinctCount, max, mean, min, quantiles, stats, sum, variance, type Aggregate } from './aggregates.ts';
import { isOperatorError } from './errors.ts';
import type { Json } from './types.ts';

function fold<I, S, R>(agg: Aggregate<I, S, R>, inputs: readonly I[]): S {
  return inputs.reduce((s, x) => agg.add(s, x), agg.init());
}

/** Serialise through a JSON string, as a checkpoint store would. */
function roundTrip<I, S, R>(agg: Aggregate<I, S, R>, state: S): S {
  return agg.restore(JSON.parse(JSON.stringify(agg.snapshot(state))) as Json);
}

const xs = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];

describe('basic aggregates', () => {
  it('count, sum, min, max and mean give the textbook answers', () => {
    expect(count().result(fold(count(), xs))).toBe(11);
    expect(sum().result(fold(sum(), xs))).toBe(44);
    expect(min().result(fold(min(), xs))).toBe(1);
    expect(max().result(fold(max(), xs))).toBe(9);
    expect(mean().result(fold(mean(), xs))).toBeCloseTo(4, 12);
    expect(min().result(min().init())).toBeUndefined();
  });

  it('variance matches the two-pass formula (sample and population)', () => {
    const m = 4;
    const ss = xs.reduce((a, x) => a + (x - m) ** 2, 0);
    expect(variance().result(fold(variance(), xs))).toBeCloseTo(ss / (xs.length - 1), 12);
    expect(variance({ population: true }).result(fold(variance({ population: true }), xs))).toBeCloseTo(ss / xs.length, 12);
    expect(variance().result(fold(variance(), [7]))).toBeUndefined();
  });

  it('sum stays exact where naive summation loses the small terms', () => {
    expect(sum().result(fold(sum(), [1e16, 1, -1e16, 1]))).toBe(2);
  });

  it('rejects non-numeric inputs through check, with a reason', () => {
    expect(sum().check('7')).toEqual({ reason: 'non-numeric-value', detail: 'value is string' });
    expect(sum().check(undefined)).toEqual({ reason: 'missing-value' });
    expect(sum().check(Number.NaN)).toMatchObject({ reason: 'non-numeric-value' });
    expect(count().check(undefined)).toBeUndefined();
  });
});

describe('merge', () => {
  const splitArb = fc.tuple(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 50 }), fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 50 }));

  it('of Welford states equals folding everything (Chan et al.)', () => {
    fc.assert(
      fc.property(splitArb, ([a, b]) => {
        const v = variance();
        const merged = v.merge(fold(v, a), fold(v, b));
        const whole = fold(v, [...a, ...b]);
        expect(merged.n).toBe(whole.n);
        expect(merged.mean).toBeCloseTo(whole.mean, 6);
        const r1 = v.result(merged);
        const r2 = v.result(whole);
        if (r2 === undefined) expect(r1).toBeUndefined();
        else expect(r1).toBeCloseTo(r2, Math.max(0, 6 - Math.log10(Math.max(1, r2))));
      }),
    );
  });

  it('of min, max, sum and count equals folding everything', () => {
    fc.assert(
      fc.property(splitArb, ([a, b]) => {
        for (const agg of [min(), max(), count()] as Aggregate<number, unknown, unknown>[]) {
          expect(agg.result(agg.merge(fold(agg, a), fold(agg, b)))).toEqual(agg.result(fold(agg, [...a, ...b])));
        }
        const s = sum();
        expect(s.result(s.merge(fold(s, a), fold(s, b)))).toBeCloseTo(s.result(fold(s, [...a, ...b])), 3);
      }),
    );
  });

  it('of DDSketches keeps quantiles within the relative accuracy', () => {
    const q = quantiles({ relativeAccuracy: 0.01 });
    const a = Array.from({ length: 1000 }, (_, i) => i + 1);
    const b = Array.from({ length: 1000 }, (_, i) => 1001 + i);
    const r = q.result(q.merge(fold(q, a), fold(q, b)));
    expect(Object.keys(r)).toEqual(['p50', 'p95', 'p99']);
    expect(Math.abs((r['p50'] as number) - 1000) / 1000).toBeLessThan(0.02);
    expect(Math.abs((r['p95'] as number) - 1900) / 1900).toBeLessThan(0.02);
    expect(Math.abs((r['p99'] as number) - 1980) / 1980).toBeLessThan(0.02);
  });

  it('of sketches with different accuracy fails with a coded error', () => {
    const a = quantiles({ relativeAccuracy: 0.01 });
    const b = quantiles({ relativeAccuracy: 0.05 });
    try {
      a.merge(fold(a, [1, 2]), fold(b, [3]));
      expect.unreachable();
    } catch (error) {
      expect(isOperatorError(error, 'incompatible-merge')).toBe(true);
    }
  });

  it('of distinct counts is the union', () => {
    const d = distinctCount();
    expect(d.result(d.merge(fold(d, ['a', 'b', 1]), fold(d, ['b', 'c', '1'])))).toEqual({ count: 4, exact: true });
  });
});

describe('distinctCount', () => {
  it('flags a saturated count as a lower bound', () => {
    const d = distinctCount({ maxTracked: 3 });
    expect(d.result(fold(d, ['a', 'b', 'c', 'd', 'a']))).toEqual({ count: 3, exact: false });
  });

  it('rejects objects as unsupported values', () => {
    expect(distinctCount().check({})).toMatchObject({ reason: 'unsupported-value' });
  });
});

describe('snapshot and restore', () => {
  it('round-trip every aggregate through JSON text and continue identically', () => {
    const first = [2.5, -1, 7, 7, 3];
    const rest = [10, 0.25, -4];
    const aggs = [count(), sum(), min(), max(), mean(), variance(), quantiles(), stats(), combine({ n: count(), q: quantiles({ quantiles: [0.9] }) })] as Aggregate<
      number,
      unknown,
      unknown
    >[];
    for (const agg of aggs) {
      const restored = fold({ ...agg, init: () => roundTrip(agg, fold(agg, first)) }, rest);
      expect(agg.result(restored), agg.name).toEqual(agg.result(fold(agg, [...first, ...rest])));
    }
    const d = distinctCount();
    expect(d.result(fold({ ...d, init: () => roundTrip(d, fold(d, ['x', 'y'])) }, ['y', 'z']))).toEqual({ count: 3, exact: true });
  });

  it('refuses a snapshot of another shape with a coded error', () => {
    for (const [agg, bad] of [
      [sum(), { not: 'a sum' }],
      [variance(), [1, 2]],
      [quantiles(), { relativeAccuracy: 0.01 }],
      [count(), -1],
    ] as [Aggregate<number, unknown, unknown>, Json][]) {
      try {
        agg.restore(bad);
        expect.unreachable(agg.name);
      } catch (error) {
        expect(isOperatorError(error, 'invalid-snapshot'), agg.name).toBe(true);
      }
    }
  });

  it('refuses to restore a sketch under a different accuracy', () => {
    const snap = quantiles({ relativeAccuracy: 0.05 }).snapshot(fold(quantiles({ relativeAccuracy: 0.05 }), [1, 2, 3]));
    expect(() => quantiles({ relativeAccuracy: 0.01 }).restore(snap)).toThrow(/accuracy/);
  });
});

describe('stats', () => {
  it('reports everything at once', () => {
    const r = stats().result(fold(stats(), [1, 2, 3, 4]));
    expect(r).toMatchObject({ count: 4, sum: 10, min: 1, max: 4, mean: 2.5 });
    expect(r.variance).toBeCloseTo(5 / 3, 12);
    expect(r.stddev).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(r.p50).toBeGreaterThan(1.9);
    expect(r.p50).toBeLessThan(3.1);
  });

  it('is empty-safe', () => {
    expect(stats().result(stats().init())).toMatchObject({ count: 0, sum: 0, min: undefined, mean: undefined, p99: undefined });
  });
});
