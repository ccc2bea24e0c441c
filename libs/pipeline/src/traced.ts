import { OperatorError, OperatorErrorCode, count, max, mean, min, quantiles, stats, sum, variance, type Aggregate, type Json } from '@tideway/operators';
import type { AggregateName } from './spec.ts';

/** What a traced aggregate consumes: the value plus the stream sequence of the input it came from. */
export interface TracedInput {
  readonly v: number;
  readonly seq: number;
}

/** State of a traced aggregate: the inner state plus the smallest and largest input sequence. */
export interface TracedState<S> {
  inner: S;
  first: number;
  last: number;
}

/** Result of a traced aggregate: the inner result plus the input sequence range (the window's lineage). */
export interface TracedResult<R> {
  readonly value: R;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/**
 * Wraps an aggregate so that each window also knows which stream positions it aggregated: the lineage of a window
 * result. Merges (session windows) merge the ranges.
 */
export function traced<S, R>(agg: Aggregate<number, S, R>): Aggregate<TracedInput, TracedState<S>, TracedResult<R>> {
  return {
    name: `traced(${agg.name})`,
    check: (input) => {
      const v = typeof input === 'object' && input !== null ? (input as { v?: unknown }).v : input;
      return agg.check(v);
    },
    init: () => ({ inner: agg.init(), first: Infinity, last: -Infinity }),
    add: (s, x) => {
      s.inner = agg.add(s.inner, x.v);
      if (x.seq < s.first) s.first = x.seq;
      if (x.seq > s.last) s.last = x.seq;
      return s;
    },
    merge: (a, b) => {
      a.inner = agg.merge(a.inner, b.inner);
      a.first = Math.min(a.first, b.first);
      a.last = Math.max(a.last, b.last);
      return a;
    },
    result: (s) => ({ value: agg.result(s.inner), firstSeq: s.first, lastSeq: s.last }),
    snapshot: (s) => ({ inner: agg.snapshot(s.inner), first: Number.isFinite(s.first) ? s.first : null, last: Number.isFinite(s.last) ? s.last : null }),
    restore: (json) => {
      if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new OperatorError(OperatorErrorCode.InvalidSnapshot, 'traced snapshot must be an object');
      const o = json as { readonly [k: string]: Json };
      return {
        inner: agg.restore(o['inner'] ?? null),
        first: typeof o['first'] === 'number' ? o['first'] : Infinity,
        last: typeof o['last'] === 'number' ? o['last'] : -Infinity,
      };
    },
  };
}

/** The `@tideway/operators` aggregate a declared window stage names. */
export function aggregateByName(name: AggregateName): Aggregate<number, unknown, unknown> {
  switch (name) {
    case 'stats':
      return stats();
    case 'count':
      return count();
    case 'sum':
      return sum();
    case 'min':
      return min();
    case 'max':
      return max();
    case 'mean':
      return mean();
    case 'variance':
      return variance();
    case 'quantiles':
      return quantiles();
  }
}
