import { DDSketch } from '@datadog/sketches-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adoptSketch, mergeSketch, newSketch } from './sketch-store.ts';

const QS = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

/** What a sketch answers: its summary, every quantile, and its counts by key. */
function answers(sketch: DDSketch): unknown {
  const byKey = (store: DDSketch['store']): Record<number, number> => {
    const out: Record<number, number> = {};
    store.bins.forEach((n, i) => {
      if (n !== 0) out[i + store.offset] = n;
    });
    return out;
  };
  return {
    count: sketch.count,
    sum: sketch.sum,
    min: sketch.min,
    max: sketch.max,
    zero: sketch.zeroCount,
    quantiles: sketch.count === 0 ? [] : QS.map((q) => sketch.getValueAtQuantile(q)),
    positive: byKey(sketch.store),
    negative: byKey(sketch.negativeStore),
  };
}

const values = fc.array(
  fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-3, max: 200, noNaN: true }), fc.constant(0)),
  { maxLength: 400 },
);

/** One sketch of all the values, the library's own: what a merge must equal. */
function direct(accuracy: number, ...lists: number[][]): DDSketch {
  const all = new DDSketch({ relativeAccuracy: accuracy });
  for (const list of lists) for (const v of list) all.accept(v);
  return all;
}

/** The answers that do not depend on the order values were added in (a sum does, in its last bits). */
function exact(sketch: DDSketch): unknown {
  const { sum: _sum, ...rest } = answers(sketch) as Record<string, unknown>;
  return rest;
}

describe('newSketch', () => {
  it('answers exactly as the library’s own sketch, value by value', () => {
    fc.assert(
      fc.property(values, fc.constantFrom(0.01, 0.02, 0.05), (xs, accuracy) => {
        const ours = newSketch(accuracy);
        for (const x of xs) ours.accept(x);
        expect(answers(ours)).toEqual(answers(direct(accuracy, xs)));
      }),
      { numRuns: 300 },
    );
  });

  it('merges into what one sketch of all the values answers, and restores from protobuf to the same', () => {
    fc.assert(
      fc.property(values, values, fc.constantFrom(0.01, 0.02, 0.05), (xs, ys, accuracy) => {
        const ours = newSketch(accuracy);
        const other = newSketch(accuracy);
        for (const x of xs) ours.accept(x);
        for (const y of ys) other.accept(y);
        mergeSketch(ours, other);
        expect(exact(ours)).toEqual(exact(direct(accuracy, xs, ys)));
        // a sketch the library built (as restored from a checkpoint) merges the same once adopted
        // (the protobuf form keeps the bins; the exact mapping and the summary fields are taken back as the quantiles
        // aggregate's restore does)
        const original = direct(accuracy, xs);
        const { mapping, count, sum, min, max } = original;
        const adopted = adoptSketch(Object.assign(DDSketch.fromProto(original.toProto()), { mapping, count, sum, min, max }));
        mergeSketch(adopted, other);
        expect(exact(adopted)).toEqual(exact(direct(accuracy, xs, ys)));
      }),
      { numRuns: 200 },
    );
  });

  it('merges a sketch whose highest key is 0 (a value near 1), which the library writes past its array', () => {
    const ours = newSketch(0.01);
    ours.accept(0.001);
    const other = newSketch(0.01);
    other.accept(0.99);
    other.accept(0.001);
    mergeSketch(ours, other);
    expect(exact(ours)).toEqual(exact(direct(0.01, [0.001, 0.99, 0.001])));
    expect(ours.store.bins.some(Number.isNaN)).toBe(false);
  });

  it('keeps negative values through a merge', () => {
    const ours = newSketch(0.01);
    ours.accept(-5);
    const other = newSketch(0.01);
    other.accept(-7);
    other.accept(3);
    mergeSketch(ours, other);
    expect(exact(ours)).toEqual(exact(direct(0.01, [-5, -7, 3])));
  });

  it('keeps its bins in place for a new lowest value whose bin the array already holds', () => {
    const sketch = newSketch(0.01);
    sketch.accept(50);
    const bins = sketch.store.bins;
    for (const v of [40, 30, 25, 60, 45, 22]) sketch.accept(v);
    expect(sketch.store.bins).toBe(bins);
    // the library's store re-centres (copies) its array for each of them
    const library = new DDSketch({ relativeAccuracy: 0.01 });
    library.accept(50);
    const before = library.store.bins;
    library.accept(40);
    expect(library.store.bins).not.toBe(before);
  });
});
