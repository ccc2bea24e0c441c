import { ErrorCode, TidewayError } from '@tideway/events';

export type EventOrder = 'asc' | 'desc';

/** A position in the (time, seq) order of events. `t` is RFC 3339 UTC with microseconds (see `TIME_KEY`). */
export interface EventKey {
  readonly t: string;
  readonly s: number;
}

/**
 * What a cursor holds: the key of the row at the page edge, which side of it to read (`next`: rows after it in
 * the listing's order; `prev`: rows before it), and the order it was made for.
 */
export interface EventCursor extends EventKey {
  readonly d: 'next' | 'prev';
  readonly o: EventOrder;
}

const KEY_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Cursors are opaque to clients: base64url JSON. */
export function encodeEventCursor(cursor: EventCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.t, s: cursor.s, d: cursor.d, o: cursor.o })).toString('base64url');
}

/** Decodes a cursor; anything that is not one this API made is `invalid-query`. */
export function decodeEventCursor(text: string): EventCursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<EventCursor>;
    if (
      typeof c.t !== 'string' ||
      !KEY_TIME.test(c.t) ||
      typeof c.s !== 'number' ||
      !Number.isSafeInteger(c.s) ||
      c.s < 0 ||
      (c.d !== 'next' && c.d !== 'prev') ||
      (c.o !== 'asc' && c.o !== 'desc')
    ) {
      throw new Error('bad cursor shape');
    }
    return { t: c.t, s: c.s, d: c.d, o: c.o };
  } catch (cause) {
    throw new TidewayError(ErrorCode.InvalidQuery, 'cursor is not valid', { issues: [{ pointer: '/cursor', message: 'not a cursor from this API' }] }, { cause });
  }
}

/** Compares two keys in ascending (time, seq) order. */
export function compareKeys(a: EventKey, b: EventKey): number {
  return a.t < b.t ? -1 : a.t > b.t ? 1 : a.s - b.s;
}

/**
 * An RFC 3339 time as the key's time text (UTC, exactly six fractional digits), so that keys of warm rows
 * (formatted by PostgreSQL) and cold rows (from the event's `time`) compare as text.
 */
export function timeKey(rfc3339: string): string {
  const ms = Date.parse(rfc3339);
  if (Number.isNaN(ms)) throw new Error(`not a time: ${rfc3339}`);
  const fraction = (/\.(\d+)/.exec(rfc3339)?.[1] ?? '').padEnd(6, '0').slice(0, 6);
  return `${new Date(ms).toISOString().slice(0, 19)}.${fraction}Z`;
}
