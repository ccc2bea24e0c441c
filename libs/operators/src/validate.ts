import { InvalidReason } from './types.ts';

/**
 * @internal Why reading a field through a user accessor failed. A successful read returns the value itself, so
 * the common case allocates nothing (these reads run several times per element in every operator).
 */
export class ReadFailure {
  readonly ok = false;
  constructor(
    readonly reason: InvalidReason,
    readonly detail?: string,
  ) {}
}

/** @internal The outcome of reading one field: the value, or why it could not be read. */
export type Read<T> = T | ReadFailure;

/** @internal True when a read failed (a `ReadFailure` is never a value an accessor can produce here). */
export function failed(read: unknown): read is ReadFailure {
  return read instanceof ReadFailure;
}

const MISSING_VALUE = new ReadFailure(InvalidReason.MissingValue);

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** @internal Calls an accessor, turning a throw into an `accessor-failed` read. */
export function readRaw<E>(event: E, accessor: (event: E) => unknown): Read<unknown> {
  try {
    return accessor(event);
  } catch (error) {
    return new ReadFailure(InvalidReason.AccessorFailed, describe(error));
  }
}

/** @internal Reads a key; anything but a non-empty string is `missing-key`. */
export function readKey<E>(event: E, accessor: (event: E) => unknown): Read<string> {
  const raw = readRaw(event, accessor);
  if (typeof raw === 'string' && raw.length > 0) return raw;
  if (raw instanceof ReadFailure) return raw;
  return new ReadFailure(InvalidReason.MissingKey, `key is ${typeof raw === 'string' ? 'empty' : typeof raw}`);
}

/** @internal Reads an event time; anything but a finite number is `invalid-event-time`. */
export function readTime<E>(event: E, accessor: (event: E) => unknown): Read<number> {
  const raw = readRaw(event, accessor);
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  if (raw instanceof ReadFailure) return raw;
  return new ReadFailure(InvalidReason.InvalidEventTime, `event time is ${String(raw)}`);
}

/** @internal Classifies a raw value as a finite number, `missing-value` or `non-numeric-value`. */
export function checkNumber(value: unknown): Read<number> {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (value === undefined || value === null) return MISSING_VALUE;
  return new ReadFailure(InvalidReason.NonNumericValue, `value is ${typeof value === 'number' ? String(value) : typeof value}`);
}

/** @internal Reads a numeric value. */
export function readNumber<E>(event: E, accessor: (event: E) => unknown): Read<number> {
  const raw = readRaw(event, accessor);
  return raw instanceof ReadFailure ? raw : checkNumber(raw);
}
