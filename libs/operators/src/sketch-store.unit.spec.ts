import { DDSketch } from '@datadog/sketches-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeSketch, newSketch } from './sketch-store.ts';

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

describe('newSketch', () => {
  it('answers exactly as the library’s own sketch, value by value, merged and restored', () => {
    fc.assert(
      fc.property(values, values, fc.constantFrom(0.01, 0.02, 0.05), (xs, ys, accuracy) => {
        const ours = newSketch(accuracy);
        const theirs = new DDSketch({ relativeAccuracy: accuracy });
        for (const x of xs) {
          ours.accept(x);
          theirs.accept(x);
        }
        expect(answers(ours)).toEqual(answers(theirs));
        const ours2 = newSketch(accuracy);
        const theirs2 = new DDSketch({ relativeAccuracy: accuracy });
        for (const y of ys) {
          ours2.accept(y);
          theirs2.accept(y);
        }
        mergeSketch(ours, ours2);
        mergeSketch(theirs, theirs2);
        expect(answers(ours)).toEqual(answers(theirs));
        // the merge holds every value of both: the same as one sketch that took them all
        const all = new DDSketch({ relativeAccuracy: accuracy });
        for (const v of [...xs, ...ys]) all.accept(v);
        const { sum: _s1, quantiles: _q1, ...merged } = answers(ours) as Record<string, unknown>;
        const { sum: _s2, quantiles: _q2, ...direct } = answers(all) as Record<string, unknown>;
        expect(merged).toEqual(direct);
        if (all.count > 0) for (const q of QS) expect(ours.getValueAtQuantile(q)).toBe(all.getValueAtQuantile(q));
        // a library sketch merged into an empty one of ours
        const mixed = newSketch(accuracy);
        mergeSketch(mixed, theirs2);
        expect(answers(mixed)).toEqual(answers(theirs2));
        // the protobuf form (checkpoints) restores the same counts; like the quantiles aggregate's restore, take the
        // exact mapping and the summary fields, which the protobuf form does not keep exactly
        const restored = DDSketch.fromProto(ours.toProto());
        Object.assign(restored, { mapping: theirs.mapping, count: ours.count, sum: ours.sum, min: ours.min, max: ours.max });
        expect(answers(restored)).toEqual(answers(theirs));
      }),
      { numRuns: 300 },
    );
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
