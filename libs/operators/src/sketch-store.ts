/**
 * DDSketch bins that are not moved needlessly. `@datadog/sketches-js` 2.x keeps a sketch's counts in a `DenseStore`:
 * an array of bins, 128 at a time, and an offset. When a value's bin lies outside the keys seen so far, the store
 * "extends its range" — and it re-centres the array (a copy and an `unshift` of zeros) for every new *minimum*,
 * even one whose bin the array already holds: its in-place test compares with the lowest key seen instead of the
 * array's own start. A window pane of 60 readings meets a new minimum some five times, so on a replay through the
 * `stats` aggregate these copies were a quarter of the bytes the engine allocated per event (docs/benchmarks.md).
 *
 * {@link newSketch} gives sketches whose stores test against the array's bounds, as the reference Java and Go
 * implementations do; a key outside them still goes the library's way. Counts, keys and every quantile are the
 * same (tested against the library's own stores); only where the zeros lie in the array differs.
 *
 * {@link mergeSketch} merges as the library should. 2.1's `merge` adds the other sketch's positive store and its
 * count, but not its negative store, so negative values went missing from a merged sketch's quantiles (session
 * windows merge panes). And a store merge whose incoming highest key is 0 (a value in (1/γ, 1], γ ≈ 1.02 at 1%
 * accuracy) did not make room for it — `_extendRange` reads its second key as `secondKey || key` — and wrote the
 * counts past the end of the array as `NaN`. Our stores pass the 0 the other way round, and {@link adoptSketch}
 * gives a sketch restored from its protobuf form our stores too.
 */
import { DDSketch } from '@datadog/sketches-js';

type Store = DDSketch['store'];
type StoreClass = new (chunkSize?: number) => Store;

/** The library's store class, found from a sketch (the package's index does not export it). */
const LibraryStore = new DDSketch().store.constructor as StoreClass;

/**
 * The library's store with the in-place test made against the array's bounds; `undefined` if this version of the
 * library has no `_extendRange` to refine (then sketches keep the library's stores).
 */
const BoundedStore: StoreClass | undefined =
  typeof (LibraryStore.prototype as Partial<Store>)._extendRange === 'function'
    ? class extends LibraryStore {
        override _extendRange(key: number, secondKey: number = key): void {
          const low = Math.min(key, secondKey, this.minKey);
          const high = Math.max(key, secondKey, this.maxKey);
          if (this.bins.length > 0 && low >= this.offset && high < this.offset + this.bins.length) {
            this.minKey = low;
            this.maxKey = high;
            return;
          }
          // The library reads a missing second key as `secondKey || key`, which also drops a second key of 0 (values
          // near 1): hand it a non-zero key second.
          if (secondKey === 0) super._extendRange(secondKey, key);
          else super._extendRange(key, secondKey);
        }
      }
    : undefined;

/** A new, empty DDSketch of the given relative accuracy, with stores that move their bins only when they must. */
export function newSketch(relativeAccuracy: number): DDSketch {
  const sketch = new DDSketch({ relativeAccuracy });
  if (BoundedStore !== undefined) {
    sketch.store = new BoundedStore();
    sketch.negativeStore = new BoundedStore();
  }
  return sketch;
}

/** Whether this version of the library's `merge` takes the negative store too (2.1.1 does not). */
const mergesNegatives = ((): boolean => {
  const a = new DDSketch();
  const b = new DDSketch();
  a.accept(-1);
  b.accept(-2);
  a.merge(b);
  return a.negativeStore.count === 2;
})();

/** Merges `from` into `into`, negative values included. @throws Error for sketches of different accuracy. */
export function mergeSketch(into: DDSketch, from: DDSketch): void {
  const both = into.count > 0 && from.count > 0;
  into.merge(from);
  if (both && !mergesNegatives) into.negativeStore.merge(from.negativeStore);
}

/** `sketch` with its stores moved into stores of ours (for a sketch the library built, e.g. from protobuf). */
export function adoptSketch(sketch: DDSketch): DDSketch {
  if (BoundedStore === undefined || sketch.store instanceof BoundedStore) return sketch;
  const store = new BoundedStore();
  const negativeStore = new BoundedStore();
  store.copy(sketch.store);
  negativeStore.copy(sketch.negativeStore);
  sketch.store = store;
  sketch.negativeStore = negativeStore;
  return sketch;
}
