/** A JSON value: what every `snapshot()` returns and every `restore()` accepts. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** Why an event could not be processed. Stable strings: dashboards and dead-letter consumers match on them. */
export const InvalidReason = {
  /** The key accessor returned something other than a non-empty string. */
  MissingKey: 'missing-key',
  /** The event-time accessor returned something other than a finite number. */
  InvalidEventTime: 'invalid-event-time',
  /** The event time lies further ahead of the scheduler's clock than `maxFutureMs` allows. */
  FutureEventTime: 'future-event-time',
  /** The value accessor returned `undefined` or `null`. */
  MissingValue: 'missing-value',
  /** The value accessor returned something other than a finite number (NaN, ±Infinity, a string, …). */
  NonNumericValue: 'non-numeric-value',
  /** The value could not be used by this aggregate (e.g. an object for a distinct count). */
  UnsupportedValue: 'unsupported-value',
  /** An accessor threw; the message is in `detail`. */
  AccessorFailed: 'accessor-failed',
  /** An enrichment lookup errored or completed without a value. */
  LookupFailed: 'lookup-failed',
} as const;
export type InvalidReason = (typeof InvalidReason)[keyof typeof InvalidReason];

/** Side output for an event a pipeline could not use. Emitted in place of the event; the stream goes on. */
export interface InvalidEvent<E> {
  readonly kind: 'invalid';
  readonly event: E;
  readonly reason: InvalidReason;
  /** Human-readable context, e.g. the accessor's error message. */
  readonly detail?: string;
}

/** Type guard for the `invalid` side output. */
export function isInvalid<T extends { readonly kind: string }>(item: T): item is Extract<T, { kind: 'invalid' }> {
  return item.kind === 'invalid';
}

/** Field accessors shared by the keyed operators: how to read a key, an event time and a value from an element. */
export interface Accessors<E, V = number> {
  /** The grouping key (sensor id, tenant, …). Must return a non-empty string. */
  readonly key: (event: E) => string;
  /** Event time in milliseconds since the epoch. */
  readonly eventTime: (event: E) => number;
  /** The measured value. */
  readonly value: (event: E) => V;
}
