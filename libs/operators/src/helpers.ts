/**
 * Small stream helpers: validation into a side output, kind filters, cached enrichment and bounded de-duplication.
 */
import { LRUCache } from 'lru-cache';
import {
  Observable,
  asyncScheduler,
  catchError,
  defaultIfEmpty,
  defer,
  finalize,
  map,
  mergeMap,
  of,
  share,
  take,
  tap,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { requireOption, requireSnapshot } from './errors.ts';
import { fromJsonNumber, jsonNumber, type StateSlot } from './state.ts';
import { InvalidReason, type Accessors, type InvalidEvent, type Json } from './types.ts';
import { ReadFailure, readKey, readNumber, readRaw, readTime } from './validate.ts';
import type { LateEvent } from './windows.ts';

/** An event whose key, event time and value were read and checked. */
export interface ValidEvent<E> {
  readonly kind: 'valid';
  readonly event: E;
  readonly key: string;
  readonly time: number;
  readonly value: number;
}

/**
 * Reads key, event time and numeric value through the accessors once, emitting `valid` records with the
 * parsed fields, or `invalid` side outputs with a reason (missing key, bad time, time too far ahead of the
 * scheduler's clock, missing or non-numeric value, throwing accessor).
 *
 * @example
 * envelopes$.pipe(
 *   validateEvents({
 *     key: (e) => e.event.partitionkey,
 *     eventTime: (e) => Date.parse(e.event.time),
 *     value: (e) => (e.event.data as { value: number }).value,
 *   }),
 * );
 */
export function validateEvents<E>(
  accessors: Accessors<E, unknown> & { readonly maxFutureMs?: number; readonly scheduler?: SchedulerLike },
): OperatorFunction<E, ValidEvent<E> | InvalidEvent<E>> {
  const maxFutureMs = accessors.maxFutureMs ?? 86_400_000;
  const scheduler = accessors.scheduler ?? asyncScheduler;
  return map((event: E): ValidEvent<E> | InvalidEvent<E> => {
    const key = readKey(event, accessors.key);
    if (key instanceof ReadFailure) return invalid(event, key);
    const time = readTime(event, accessors.eventTime);
    if (time instanceof ReadFailure) return invalid(event, time);
    if (time > scheduler.now() + maxFutureMs) {
      return { kind: 'invalid', event, reason: InvalidReason.FutureEventTime, detail: `event time ${time} is more than ${maxFutureMs} ms ahead` };
    }
    const value = readNumber(event, accessors.value);
    if (value instanceof ReadFailure) return invalid(event, value);
    return { kind: 'valid', event, key, time, value };
  });
}

function invalid<E>(event: E, read: { readonly reason: InvalidReason; readonly detail?: string }): InvalidEvent<E> {
  return read.detail === undefined ? { kind: 'invalid', event, reason: read.reason } : { kind: 'invalid', event, reason: read.reason, detail: read.detail };
}

/**
 * Keeps the members of a discriminated union with the given `kind`, narrowing the type.
 *
 * @example
 * out$.pipe(ofKind('late')); // Observable<LateEvent<E>>
 */
export function ofKind<T extends { readonly kind: string }, K extends T['kind']>(kind: K): OperatorFunction<T, Extract<T, { kind: K }>> {
  return (source) =>
    new Observable<Extract<T, { kind: K }>>((subscriber) =>
      source.subscribe({
        next: (item) => {
          if (item.kind === kind) subscriber.next(item as Extract<T, { kind: K }>);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

/** Options of {@link enrich}. */
export interface EnrichOptions<E> {
  /** The lookup key of an event (missing keys go to the `invalid` side output). */
  readonly key: (event: E) => string;
  /** Entries the LRU cache holds. Default 1,000. */
  readonly maxEntries?: number;
  /** How long a cached value stays fresh, in the scheduler's clock. Default: until evicted. */
  readonly ttlMs?: number;
  /**
   * Lookups in flight at once. Default 1, which keeps the output in input order; above 1 results may overtake
   * each other, and concurrent misses for one key share a single lookup.
   */
  readonly concurrency?: number;
  /** Clock for `ttlMs`. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** An event with the value looked up for its key. */
export interface Enriched<E, T> {
  readonly kind: 'enriched';
  readonly event: E;
  readonly key: string;
  readonly value: T;
  /** The value came from the cache rather than a lookup. */
  readonly cached: boolean;
}

/**
 * Joins each event with a value looked up by key (device metadata, a tenant's plan, …), through a bounded LRU
 * cache (`lru-cache`) whose TTL runs on the RxJS scheduler. The lookup's first value is used; a lookup that
 * errors or completes empty yields an `invalid` side output (`lookup-failed`) and is not cached.
 *
 * @example
 * readings$.pipe(
 *   enrich((deviceId) => devices.get$(deviceId), { key: (r) => r.deviceId, maxEntries: 10_000, ttlMs: 60_000 }),
 * );
 */
export function enrich<E, T>(lookup: (key: string) => Observable<T>, options: EnrichOptions<E>): OperatorFunction<E, Enriched<E, T> | InvalidEvent<E>> {
  const maxEntries = options.maxEntries ?? 1000;
  const concurrency = options.concurrency ?? 1;
  requireOption(Number.isInteger(maxEntries) && maxEntries > 0, `maxEntries must be a positive integer, got ${maxEntries}`);
  requireOption(Number.isInteger(concurrency) && concurrency > 0, `concurrency must be a positive integer, got ${concurrency}`);
  requireOption(options.ttlMs === undefined || options.ttlMs > 0, `ttlMs must be > 0, got ${options.ttlMs}`);
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    defer(() => {
      // lru-cache treats a start time of 0 as "no TTL", and virtual clocks start at 0: shift by one.
      const cache = new LRUCache<string, { value: T }>(
        options.ttlMs === undefined
          ? { max: maxEntries }
          : { max: maxEntries, ttl: options.ttlMs, ttlResolution: 0, perf: { now: () => scheduler.now() + 1 } },
      );
      const inFlight = new Map<string, Observable<T>>();
      const fetch = (key: string): Observable<T> => {
        let shared = inFlight.get(key);
        if (!shared) {
          shared = defer(() => lookup(key)).pipe(
            take(1),
            tap((value) => cache.set(key, { value })),
            finalize(() => inFlight.delete(key)),
            share(),
          );
          inFlight.set(key, shared);
        }
        return shared;
      };
      return source.pipe(
        mergeMap((event): Observable<Enriched<E, T> | InvalidEvent<E>> => {
          const key = readKey(event, options.key);
          if (key instanceof ReadFailure) return of(invalid(event, key));
          const hit = cache.get(key);
          if (hit) return of({ kind: 'enriched', event, key, value: hit.value, cached: true });
          const failed = (detail: string): InvalidEvent<E> => ({ kind: 'invalid', event, reason: InvalidReason.LookupFailed, detail });
          return fetch(key).pipe(
            map((value): Enriched<E, T> | InvalidEvent<E> => ({ kind: 'enriched', event, key, value, cached: false })),
            defaultIfEmpty(failed(`lookup for ${key} completed without a value`)),
            catchError((error: unknown) => of(failed(error instanceof Error ? error.message : String(error)))),
          );
        }, concurrency),
      );
    });
}

/** Options of {@link dedupeById}: bound the memory by count, by age, or both (at least one is required). */
export interface DedupeOptions {
  /** Ids remembered; the oldest is forgotten first. */
  readonly maxIds?: number;
  /** How long an id is remembered, in the scheduler's clock. */
  readonly ttlMs?: number;
  /** Clock for `ttlMs`. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Checkpointable state (see `StateRegistry`): the remembered ids with the time each was first seen. */
  readonly state?: StateSlot;
}

/**
 * Drops events whose id was seen within the de-duplication window (the last `maxIds` ids and/or the last `ttlMs`
 * of processing time), e.g. redeliveries after a consumer restart. Events whose id cannot be read (accessor
 * throws, or returns neither a string nor a finite number) cannot be de-duplicated and pass through unchanged.
 *
 * @example
 * events$.pipe(dedupeById((e) => e.event.id, { maxIds: 100_000, ttlMs: 10 * 60_000 }));
 */
export function dedupeById<E>(id: (event: E) => string | number, options: DedupeOptions): OperatorFunction<E, E> {
  requireOption(options.maxIds !== undefined || options.ttlMs !== undefined, 'dedupeById needs maxIds, ttlMs or both');
  requireOption(options.maxIds === undefined || (Number.isInteger(options.maxIds) && options.maxIds > 0), 'maxIds must be a positive integer');
  requireOption(options.ttlMs === undefined || options.ttlMs > 0, 'ttlMs must be > 0');
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<E>((subscriber) => {
      // `seen` answers "was this id seen?"; `order` holds the same ids oldest first, with the time each was first
      // seen. Ids are only ever added at the young end and dropped at the old end, so `order` is exactly the Map's
      // insertion order — kept apart because finding a Map's oldest entry after many deletions walks over the
      // deleted slots V8 leaves at the front of its table (O(maxIds) per event in steady state).
      const seen = new Set<string>();
      const order = new IdQueue();
      const initial = options.state?.initial;
      if (initial !== undefined) {
        requireSnapshot(Array.isArray(initial), 'dedupe snapshot must be an array of [id, time] pairs');
        for (const entry of initial as readonly Json[]) {
          requireSnapshot(Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'number', 'bad dedupe snapshot entry');
          // a repeated id keeps its first position and takes the later time, as Map.set did
          if (seen.has(entry[0])) order.retime(entry[0], entry[1]);
          else {
            seen.add(entry[0]);
            order.push(entry[0], entry[1]);
          }
        }
      }
      const unbind = options.state?.bind(() => order.entries());
      const sub = source.subscribe({
        next: (event) => {
          const value = readRaw(event, id);
          if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) return subscriber.next(event);
          const k = typeof value === 'number' ? `n:${value}` : `s:${value}`;
          // Flatten the key before it is remembered: a concatenated id is a tree of string pieces (several hundred
          // bytes), which would be kept for the whole window and promoted out of the young generation with it.
          k.charCodeAt(0);
          const now = scheduler.now();
          if (options.ttlMs !== undefined) {
            while (order.size > 0 && now - order.oldestTime() >= options.ttlMs) seen.delete(order.shift());
          }
          // one hash lookup, not two (`has` then `add`): an id seen before leaves the size as it was
          const before = seen.size;
          seen.add(k);
          if (seen.size === before) return;
          order.push(k, now);
          if (options.maxIds !== undefined && seen.size > options.maxIds) seen.delete(order.shift());
          subscriber.next(event);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        unbind?.();
      };
    });
}

/** A FIFO of (id, first-seen time) pairs: O(1) push and shift, compacted as it goes. */
class IdQueue {
  private ids: string[] = [];
  private times: number[] = [];
  private head = 0;

  get size(): number {
    return this.ids.length - this.head;
  }

  push(id: string, at: number): void {
    this.ids.push(id);
    this.times.push(at);
  }

  oldestTime(): number {
    return this.times[this.head] as number;
  }

  /** Removes and returns the oldest id (the queue must not be empty). */
  shift(): string {
    const id = this.ids[this.head] as string;
    // release the slot now: the id may be the last reference to a string the collector can then free young
    this.ids[this.head] = '';
    this.head++;
    // drop the consumed front once it is as long as what is left: amortised O(1), memory ≤ 2× the live ids
    if (this.head >= 1024 && this.head * 2 >= this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return id;
  }

  /** Sets the time of an id already queued (restore only: a snapshot never repeats an id it wrote itself). */
  retime(id: string, at: number): void {
    const i = this.ids.lastIndexOf(id);
    if (i >= this.head) this.times[i] = at;
  }

  entries(): Json {
    const out: Json[] = [];
    for (let i = this.head; i < this.ids.length; i++) out.push([this.ids[i] as string, this.times[i] as number]);
    return out;
  }
}

/** Options of {@link lateGate}. */
export interface LateGateOptions<E> {
  /** The key reported on late events. */
  readonly key: (event: E) => string;
  /** Event time in ms. Elements whose time cannot be read pass through (validate first). */
  readonly eventTime: (event: E) => number;
  /** The watermark trails the largest event time seen by this much. Default 0. */
  readonly maxOutOfOrdernessMs?: number;
  /** Events up to this far behind the watermark still pass. Default 0. */
  readonly allowedLatenessMs?: number;
  /** Checkpointable state (see `StateRegistry`): the largest event time seen. */
  readonly state?: StateSlot;
}

/**
 * Event-time admission for operators that have no windows of their own (e.g. anomaly scoring): tracks the
 * watermark (largest event time − `maxOutOfOrdernessMs`) from the elements alone, passes elements whose time is
 * at least watermark − `allowedLatenessMs`, and turns older ones into `late` side outputs (reason
 * `before-watermark-horizon`). The result depends only on the order of the elements, never on a clock.
 *
 * @example
 * valid$.pipe(lateGate({ key: (v) => v.key, eventTime: (v) => v.time, maxOutOfOrdernessMs: 5_000 }));
 */
export function lateGate<E>(options: LateGateOptions<E>): OperatorFunction<E, E | LateEvent<E>> {
  const bound = options.maxOutOfOrdernessMs ?? 0;
  const lateness = options.allowedLatenessMs ?? 0;
  requireOption(Number.isFinite(bound) && bound >= 0, `maxOutOfOrdernessMs must be a finite number ≥ 0, got ${bound}`);
  requireOption(Number.isFinite(lateness) && lateness >= 0, `allowedLatenessMs must be a finite number ≥ 0, got ${lateness}`);
  return (source) =>
    new Observable<E | LateEvent<E>>((subscriber) => {
      let maxTime = -Infinity;
      const initial = options.state?.initial;
      if (initial !== undefined) {
        requireSnapshot(typeof initial === 'object' && initial !== null && !Array.isArray(initial), 'late gate snapshot must be an object');
        maxTime = fromJsonNumber((initial as { readonly [k: string]: Json })['maxEventTime'], -Infinity);
      }
      const unbind = options.state?.bind(() => ({ maxEventTime: jsonNumber(maxTime) }));
      const sub = source.subscribe({
        next: (event) => {
          const time = readTime(event, options.eventTime);
          if (time instanceof ReadFailure) return subscriber.next(event);
          const watermark = maxTime - bound;
          if (time < watermark - lateness) {
            const key = readKey(event, options.key);
            return subscriber.next({ kind: 'late', event, key: key instanceof ReadFailure ? '' : key, eventTime: time, watermark, reason: 'before-watermark-horizon' });
          }
          if (time > maxTime) maxTime = time;
          subscriber.next(event);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        unbind?.();
      };
    });
}
