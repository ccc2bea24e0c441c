/**
 * Mergeable, JSON-serialisable aggregates for windows. An {@link Aggregate} is a small algebra: `init`, `add`,
 * `merge` (associative, so session windows can merge and partial results can be combined across partitions),
 * `result`, and `snapshot`/`restore` so a checkpoint can persist the state of every open window.
 */
import { DDSketch } from '@datadog/sketches-js';
import { adoptSketch, mergeSketch, newSketch } from './sketch-store.ts';
import { OperatorError, OperatorErrorCode, requireOption, requireSnapshot } from './errors.ts';
import { InvalidReason, type Json } from './types.ts';
import { ReadFailure, checkNumber } from './validate.ts';

/**
 * A mergeable aggregate over inputs `I` with state `S` and result `R`. `add` and `merge` may mutate and return
 * their first argument; a state handed to `merge` as second argument must not be used afterwards.
 */
export interface Aggregate<I, S, R> {
  /** A short name, used in snapshots and error messages. */
  readonly name: string;
  /** Why a raw input cannot be aggregated (`undefined` when it can). Called before `add`. */
  check(input: unknown): { readonly reason: InvalidReason; readonly detail?: string } | undefined;
  init(): S;
  add(state: S, input: I): S;
  merge(a: S, b: S): S;
  result(state: S): R;
  snapshot(state: S): Json;
  restore(json: Json): S;
}

/** The state type of an aggregate. */
export type StateOf<A> = A extends Aggregate<never, infer S, unknown> ? S : never;
/** The result type of an aggregate. */
export type ResultOf<A> = A extends Aggregate<never, unknown, infer R> ? R : never;

const acceptAll = (): undefined => undefined;
function checkNumeric(input: unknown): { reason: InvalidReason; detail?: string } | undefined {
  const r = checkNumber(input);
  return !(r instanceof ReadFailure) ? undefined : r.detail === undefined ? { reason: r.reason } : { reason: r.reason, detail: r.detail };
}

function isNum(x: Json | undefined): x is number {
  return typeof x === 'number';
}

function jsonNumber(x: number): Json {
  return Number.isFinite(x) ? x : null;
}

/**
 * Number of inputs. Accepts any input, so pair it with `value: (e) => e`.
 *
 * @example
 * windowAggregate({ window: tumbling(60_000), key, eventTime, value: (e) => e, aggregate: count() });
 */
export function count(): Aggregate<unknown, number, number> {
  return {
    name: 'count',
    check: acceptAll,
    init: () => 0,
    add: (s) => s + 1,
    merge: (a, b) => a + b,
    result: (s) => s,
    snapshot: (s) => s,
    restore: (json) => {
      requireSnapshot(isNum(json) && Number.isInteger(json) && json >= 0, 'count snapshot must be a non-negative integer');
      return json;
    },
  };
}

/** Neumaier-compensated sum: `[sum, compensation]`, so the result hardly depends on the order of the inputs. */
export type SumState = [number, number];

function neumaierAdd(s: SumState, x: number): SumState {
  const t = s[0] + x;
  s[1] += Math.abs(s[0]) >= Math.abs(x) ? s[0] - t + x : x - t + s[0];
  s[0] = t;
  return s;
}

/** A JSON array of exactly `length` numbers, or undefined. */
function numberTuple(json: Json, length: number): number[] | undefined {
  if (!Array.isArray(json)) return undefined;
  const items = json as readonly Json[];
  return items.length === length && items.every(isNum) ? (items as number[]) : undefined;
}

function restoreSum(json: Json, name: string): SumState {
  const t = numberTuple(json, 2);
  requireSnapshot(t !== undefined, `${name} snapshot must be [sum, compensation]`);
  return [t[0] as number, t[1] as number];
}

/**
 * Sum of numeric inputs, with Neumaier compensation.
 *
 * @example
 * windowAggregate({ window: tumbling(60_000), key, eventTime, value: (e) => e.amount, aggregate: sum() });
 */
export function sum(): Aggregate<number, SumState, number> {
  return {
    name: 'sum',
    check: checkNumeric,
    init: () => [0, 0],
    add: neumaierAdd,
    merge: (a, b) => neumaierAdd(neumaierAdd(a, b[0]), b[1]),
    result: (s) => s[0] + s[1],
    snapshot: (s) => [s[0], s[1]],
    restore: (json) => restoreSum(json, 'sum'),
  };
}

function extremum(name: 'min' | 'max', pick: (a: number, b: number) => number): Aggregate<number, number | undefined, number | undefined> {
  return {
    name,
    check: checkNumeric,
    init: () => undefined,
    add: (s, x) => (s === undefined ? x : pick(s, x)),
    merge: (a, b) => (a === undefined ? b : b === undefined ? a : pick(a, b)),
    result: (s) => s,
    snapshot: (s) => (s === undefined ? null : s),
    restore: (json) => {
      requireSnapshot(json === null || isNum(json), `${name} snapshot must be a number or null`);
      return json ?? undefined;
    },
  };
}

/**
 * Smallest numeric input (`undefined` for an empty state).
 *
 * @example
 * windowAggregate({ window: hopping(60_000, 10_000), key, eventTime, value: (e) => e.celsius, aggregate: min() });
 */
export function min(): Aggregate<number, number | undefined, number | undefined> {
  return extremum('min', Math.min);
}

/**
 * Largest numeric input (`undefined` for an empty state).
 *
 * @example
 * windowAggregate({ window: hopping(60_000, 10_000), key, eventTime, value: (e) => e.celsius, aggregate: max() });
 */
export function max(): Aggregate<number, number | undefined, number | undefined> {
  return extremum('max', Math.max);
}

/** Welford state: count, mean and sum of squared deviations from the mean. */
export interface WelfordState {
  n: number;
  mean: number;
  m2: number;
}

function welfordAdd(s: WelfordState, x: number): WelfordState {
  s.n += 1;
  const d = x - s.mean;
  s.mean += d / s.n;
  s.m2 += d * (x - s.mean);
  return s;
}

/** Chan et al.'s parallel combination of two Welford states. */
function welfordMerge(a: WelfordState, b: WelfordState): WelfordState {
  if (b.n === 0) return a;
  if (a.n === 0) return { n: b.n, mean: b.mean, m2: b.m2 };
  const n = a.n + b.n;
  const d = b.mean - a.mean;
  a.mean += (d * b.n) / n;
  a.m2 += b.m2 + (d * d * a.n * b.n) / n;
  a.n = n;
  return a;
}

function restoreWelford(json: Json, name: string): WelfordState {
  const t = numberTuple(json, 3);
  requireSnapshot(t !== undefined, `${name} snapshot must be [n, mean, m2]`);
  return { n: t[0] as number, mean: t[1] as number, m2: t[2] as number };
}

function welfordAggregate<R>(name: string, result: (s: WelfordState) => R): Aggregate<number, WelfordState, R> {
  return {
    name,
    check: checkNumeric,
    init: () => ({ n: 0, mean: 0, m2: 0 }),
    add: welfordAdd,
    merge: welfordMerge,
    result,
    snapshot: (s) => [s.n, s.mean, s.m2],
    restore: (json) => restoreWelford(json, name),
  };
}

/**
 * Arithmetic mean of numeric inputs (`undefined` for an empty state), by Welford's update.
 *
 * @example
 * windowAggregate({ window: tumbling(60_000), key, eventTime, value: (e) => e.latencyMs, aggregate: mean() });
 */
export function mean(): Aggregate<number, WelfordState, number | undefined> {
  return welfordAggregate('mean', (s) => (s.n === 0 ? undefined : s.mean));
}

/**
 * Variance of numeric inputs by Welford's online algorithm, merged with Chan's formula. Sample variance
 * (n − 1) by default, `undefined` below two inputs; `{ population: true }` divides by n.
 *
 * @example
 * windowAggregate({ window: tumbling(60_000), key, eventTime, value: (e) => e.latencyMs, aggregate: variance() });
 */
export function variance(options: { readonly population?: boolean } = {}): Aggregate<number, WelfordState, number | undefined> {
  const population = options.population ?? false;
  return welfordAggregate('variance', (s) => {
    if (population) return s.n === 0 ? undefined : s.m2 / s.n;
    return s.n < 2 ? undefined : s.m2 / (s.n - 1);
  });
}

/** Options of {@link quantiles}. */
export interface QuantilesOptions {
  /** Quantiles in [0, 1]. Default `[0.5, 0.95, 0.99]`. */
  readonly quantiles?: readonly number[];
  /** DDSketch relative accuracy: every reported quantile is within this relative error. Default 0.01. */
  readonly relativeAccuracy?: number;
}

/** The result of {@link quantiles}: one entry per quantile, named `p50`, `p95`, `p99`, `p99.9`, … */
export type QuantileResult = Readonly<Record<string, number | undefined>>;

/** DDSketch state: the sketch plus the accuracy it was built with (sketches of different accuracy do not merge). */
export interface SketchState {
  readonly relativeAccuracy: number;
  sketch: DDSketch;
}

/** `p50` for 0.5, `p99.9` for 0.999. */
export function quantileName(q: number): string {
  return `p${Number((q * 100).toPrecision(10))}`;
}

function restoreSketch(json: Json): SketchState {
  requireSnapshot(typeof json === 'object' && json !== null && !Array.isArray(json), 'quantiles snapshot must be an object');
  const o = json as { readonly [k: string]: Json };
  const { relativeAccuracy, proto, count: n, sum: total, min: lo, max: hi } = o;
  requireSnapshot(isNum(relativeAccuracy) && typeof proto === 'string' && isNum(n) && isNum(total), 'quantiles snapshot lacks fields');
  let sketch: DDSketch;
  try {
    sketch = adoptSketch(DDSketch.fromProto(Uint8Array.from(Buffer.from(proto, 'base64'))));
  } catch (cause) {
    throw new OperatorError(OperatorErrorCode.InvalidSnapshot, 'quantiles snapshot holds no valid DDSketch', { cause });
  }
  // The protobuf form stores the index mapping as floats (a rebuilt one answers ~1e-14 off) and drops the summary
  // fields: take the mapping of a fresh sketch of the same accuracy, whose bin indices are identical.
  sketch.mapping = new DDSketch({ relativeAccuracy }).mapping;
  sketch.count = n;
  sketch.sum = total;
  sketch.min = isNum(lo) ? lo : Infinity;
  sketch.max = isNum(hi) ? hi : -Infinity;
  return { relativeAccuracy, sketch };
}

/**
 * Quantiles (p50/p95/p99 by default) from a DDSketch (`@datadog/sketches-js`): bounded memory, relative-error
 * guarantees, mergeable across windows and partitions.
 *
 * @example
 * windowAggregate({ window: tumbling(60_000), key, eventTime, value: (e) => e.latencyMs, aggregate: quantiles() });
 * // value: { p50: 12.1, p95: 80.3, p99: 151.0 }
 */
export function quantiles(options: QuantilesOptions = {}): Aggregate<number, SketchState, QuantileResult> {
  const qs = options.quantiles ?? [0.5, 0.95, 0.99];
  const relativeAccuracy = options.relativeAccuracy ?? 0.01;
  requireOption(qs.length > 0 && qs.every((q) => q >= 0 && q <= 1), 'quantiles must be numbers in [0, 1]');
  requireOption(relativeAccuracy > 0 && relativeAccuracy < 1, `relativeAccuracy must be in (0, 1), got ${relativeAccuracy}`);
  const names = qs.map(quantileName);
  return {
    name: 'quantiles',
    check: checkNumeric,
    init: () => ({ relativeAccuracy, sketch: newSketch(relativeAccuracy) }),
    add: (s, x) => {
      s.sketch.accept(x);
      return s;
    },
    merge: (a, b) => {
      if (a.relativeAccuracy !== b.relativeAccuracy || !a.sketch.mergeable(b.sketch))
        throw new OperatorError(OperatorErrorCode.IncompatibleMerge, `cannot merge sketches of accuracy ${a.relativeAccuracy} and ${b.relativeAccuracy}`);
      mergeSketch(a.sketch, b.sketch);
      return a;
    },
    result: (s) => {
      const out: Record<string, number | undefined> = {};
      qs.forEach((q, i) => (out[names[i] as string] = s.sketch.count === 0 ? undefined : s.sketch.getValueAtQuantile(q)));
      return out;
    },
    snapshot: (s) => ({
      relativeAccuracy: s.relativeAccuracy,
      proto: Buffer.from(s.sketch.toProto()).toString('base64'),
      count: s.sketch.count,
      sum: s.sketch.sum,
      min: jsonNumber(s.sketch.min),
      max: jsonNumber(s.sketch.max),
    }),
    restore: (json) => {
      const s = restoreSketch(json);
      requireSnapshot(s.relativeAccuracy === relativeAccuracy, `snapshot accuracy ${s.relativeAccuracy} differs from ${relativeAccuracy}`);
      return s;
    },
  };
}

/** Options of {@link distinctCount}. */
export interface DistinctCountOptions {
  /** Distinct values kept exactly; beyond this the count stops growing and `exact` turns false. Default 10,000. */
  readonly maxTracked?: number;
}

/** Distinct-count state: the distinct values seen (as strings) and whether any were turned away. */
export interface DistinctState {
  values: Set<string>;
  saturated: boolean;
}

/** The result of {@link distinctCount}: an exact count, or a lower bound when `exact` is false. */
export interface DistinctResult {
  readonly count: number;
  readonly exact: boolean;
}

/**
 * Exact distinct count of string or numeric inputs, memory-bounded by `maxTracked` (past it the result is a
 * lower bound flagged `exact: false`). Values are compared as strings, so `1` and `"1"` count once.
 *
 * @example
 * windowAggregate({ window: tumbling(3_600_000), key: (e) => e.tenant, eventTime, value: (e) => e.userId, aggregate: distinctCount() });
 */
export function distinctCount(options: DistinctCountOptions = {}): Aggregate<string | number, DistinctState, DistinctResult> {
  const maxTracked = options.maxTracked ?? 10_000;
  requireOption(Number.isInteger(maxTracked) && maxTracked > 0, `maxTracked must be a positive integer, got ${maxTracked}`);
  const add = (s: DistinctState, v: string): DistinctState => {
    if (s.values.has(v)) return s;
    if (s.values.size < maxTracked) s.values.add(v);
    else s.saturated = true;
    return s;
  };
  return {
    name: 'distinctCount',
    check: (input) => {
      if (input === undefined || input === null) return { reason: InvalidReason.MissingValue };
      if (typeof input === 'string' || (typeof input === 'number' && Number.isFinite(input))) return undefined;
      return { reason: InvalidReason.UnsupportedValue, detail: `distinct count takes strings or finite numbers, got ${typeof input}` };
    },
    init: () => ({ values: new Set(), saturated: false }),
    add: (s, x) => add(s, String(x)),
    merge: (a, b) => {
      for (const v of b.values) add(a, v);
      a.saturated ||= b.saturated;
      return a;
    },
    result: (s) => ({ count: s.values.size, exact: !s.saturated }),
    snapshot: (s) => ({ values: [...s.values].sort(), saturated: s.saturated }),
    restore: (json) => {
      requireSnapshot(typeof json === 'object' && json !== null && !Array.isArray(json), 'distinctCount snapshot must be an object');
      const { values, saturated } = json as { readonly [k: string]: Json };
      const list = Array.isArray(values) ? (values as readonly Json[]) : [];
      requireSnapshot(Array.isArray(values) && list.every((v) => typeof v === 'string') && typeof saturated === 'boolean', 'distinctCount snapshot lacks fields');
      return { values: new Set(list), saturated };
    },
  };
}

/** Result of {@link stats}. `undefined` fields need more inputs (variance needs two). */
export interface StatsResult {
  readonly count: number;
  readonly sum: number;
  readonly min: number | undefined;
  readonly max: number | undefined;
  readonly mean: number | undefined;
  readonly variance: number | undefined;
  readonly stddev: number | undefined;
  readonly p50: number | undefined;
  readonly p95: number | undefined;
  readonly p99: number | undefined;
}

/** State of {@link stats}. */
export interface StatsState {
  sum: SumState;
  min: number | undefined;
  max: number | undefined;
  welford: WelfordState;
  sketch: SketchState;
}

/**
 * Count, sum, min, max, mean, sample variance, standard deviation and p50/p95/p99 in one state.
 *
 * @example
 * readings$.pipe(windowAggregate({ window: tumbling(60_000), key, eventTime, value, aggregate: stats() }));
 */
export function stats(options: { readonly relativeAccuracy?: number } = {}): Aggregate<number, StatsState, StatsResult> {
  const s = sum();
  const lo = min();
  const hi = max();
  const w = variance();
  const q = quantiles(options.relativeAccuracy === undefined ? {} : { relativeAccuracy: options.relativeAccuracy });
  return {
    name: 'stats',
    check: checkNumeric,
    init: () => ({ sum: s.init(), min: undefined, max: undefined, welford: w.init(), sketch: q.init() }),
    add: (st, x) => {
      s.add(st.sum, x);
      st.min = lo.add(st.min, x);
      st.max = hi.add(st.max, x);
      w.add(st.welford, x);
      q.add(st.sketch, x);
      return st;
    },
    merge: (a, b) => {
      s.merge(a.sum, b.sum);
      a.min = lo.merge(a.min, b.min);
      a.max = hi.merge(a.max, b.max);
      a.welford = w.merge(a.welford, b.welford);
      q.merge(a.sketch, b.sketch);
      return a;
    },
    result: (st) => {
      const v = w.result(st.welford);
      const p = q.result(st.sketch);
      return {
        count: st.welford.n,
        sum: s.result(st.sum),
        min: st.min,
        max: st.max,
        mean: st.welford.n === 0 ? undefined : st.welford.mean,
        variance: v,
        stddev: v === undefined ? undefined : Math.sqrt(v),
        p50: p['p50'],
        p95: p['p95'],
        p99: p['p99'],
      };
    },
    snapshot: (st) => ({
      sum: s.snapshot(st.sum),
      min: lo.snapshot(st.min),
      max: hi.snapshot(st.max),
      welford: w.snapshot(st.welford),
      sketch: q.snapshot(st.sketch),
    }),
    restore: (json) => {
      requireSnapshot(typeof json === 'object' && json !== null && !Array.isArray(json), 'stats snapshot must be an object');
      const o = json as { readonly [k: string]: Json };
      return {
        sum: s.restore(o['sum'] ?? null),
        min: lo.restore(o['min'] ?? null),
        max: hi.restore(o['max'] ?? null),
        welford: w.restore(o['welford'] ?? null),
        sketch: q.restore(o['sketch'] ?? null),
      };
    },
  };
}

/**
 * Several aggregates over the same input, side by side: `combine({ n: count(), p: quantiles() })` yields
 * `{ n: number, p: QuantileResult }`. An input must pass every part's `check`.
 *
 * @example
 * windowAggregate({ window: session(30_000), key, eventTime, value: (e) => e.bytes,
 *   aggregate: combine({ total: sum(), largest: max(), p: quantiles({ quantiles: [0.9] }) }) });
 */
export function combine<I, P extends Record<string, Aggregate<I, unknown, unknown>>>(
  parts: P,
): Aggregate<I, { [K in keyof P]: StateOf<P[K]> }, { [K in keyof P]: ResultOf<P[K]> }> {
  const entries = Object.entries(parts);
  requireOption(entries.length > 0, 'combine needs at least one aggregate');
  type S = { [K in keyof P]: StateOf<P[K]> };
  type R = { [K in keyof P]: ResultOf<P[K]> };
  const map = (f: (name: string, agg: Aggregate<I, unknown, unknown>) => unknown): Record<string, unknown> =>
    Object.fromEntries(entries.map(([name, agg]) => [name, f(name, agg)]));
  return {
    name: `combine(${entries.map(([n]) => n).join(',')})`,
    check: (input) => {
      for (const [, agg] of entries) {
        const problem = agg.check(input);
        if (problem) return problem;
      }
      return undefined;
    },
    init: () => map((_, agg) => agg.init()) as S,
    add: (s, x) => map((name, agg) => agg.add((s as Record<string, unknown>)[name], x)) as S,
    merge: (a, b) => map((name, agg) => agg.merge((a as Record<string, unknown>)[name], (b as Record<string, unknown>)[name])) as S,
    result: (s) => map((name, agg) => agg.result((s as Record<string, unknown>)[name])) as R,
    snapshot: (s) => map((name, agg) => agg.snapshot((s as Record<string, unknown>)[name])) as Json,
    restore: (json) => {
      requireSnapshot(typeof json === 'object' && json !== null && !Array.isArray(json), 'combine snapshot must be an object');
      const o = json as { readonly [k: string]: Json };
      return map((name, agg) => agg.restore(o[name] ?? null)) as S;
    },
  };
}
