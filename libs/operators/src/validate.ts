import { InvalidReason } from './types.ts';

/** @internal The outcome of reading one field through a user accessor. */
export type Read<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: InvalidReason; readonly detail?: string };

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** @internal Calls an accessor, turning a throw into an `accessor-failed` read. */
export function readRaw<E>(event: E, accessor: (event: E) => unknown): Read<unknown> {
  try {
    return { ok: true, value: accessor(event) };
  } catch (error) {
    return { ok: false, reason: InvalidReason.AccessorFailed, detail: describe(error) };
  }
}

/** @internal Reads a key; anything but a non-empty string is `missing-key`. */
export function readKey<E>(event: E, accessor: (event: E) => unknown): Read<string> {
  const raw = readRaw(event, accessor);
  if (!raw.ok) return raw;
  return typeof raw.value === 'string' && raw.value.length > 0
    ? { ok: true, value: raw.value }
    : { ok: false, reason: InvalidReason.MissingKey, detail: `key is ${typeof raw.value === 'string' ? 'empty' : typeof raw.value}` };
}

/** @internal Reads an event time; anything but a finite number is `invalid-event-time`. */
export function readTime<E>(event: E, accessor: (event: E) => unknown): Read<number> {
  const raw = readRaw(event, accessor);
  if (!raw.ok) return raw;
  return typeof raw.value === 'number' && Number.isFinite(raw.value)
    ? { ok: true, value: raw.value }
    : { ok: false, reason: InvalidReason.InvalidEventTime, detail: `event time is ${String(raw.value)}` };
}

/** @internal Classifies a raw value as a finite number, `missing-value` or `non-numeric-value`. */
export function checkNumber(value: unknown): Read<number> {
  if (value === undefined || value === null) return { ok: false, reason: InvalidReason.MissingValue };
  return typeof value === 'number' && Number.isFinite(value)
    ? { ok: true, value }
    : { ok: false, reason: InvalidReason.NonNumericValue, detail: `value is ${typeof value === 'number' ? String(value) : typeof value}` };
}

/** @internal Reads a numeric value. */
export function readNumber<E>(event: E, accessor: (event: E) => unknown): Read<number> {
  const raw = readRaw(event, accessor);
  return raw.ok ? checkNumber(raw.value) : raw;
}
