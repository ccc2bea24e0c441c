import type { ColdRow } from './parquet.ts';

/**
 * Where archived events live and how they are grouped into objects. Everything here is a pure function of
 * the events' stream sequences, tenants, types, times and sizes, never of how the stream was cut into
 * batches, so a projector that crashed and restarted any number of times ends with exactly the objects of an
 * uninterrupted run.
 *
 *   <prefix>/tenant=<tenant>/type=<type>/date=<yyyy-mm-dd>/<seqFrom>-<seqTo>.parquet
 *
 * The stream is cut into *windows* of `windowSize` sequences ([1, W], [W+1, 2W], ...). A projection object
 * holds the events of one tenant, type and date within one window; it is named by its first row's sequence
 * and the window's last sequence, and rewritten in place while the window is still filling. When an object
 * would exceed `maxObjectBytes`, the next event starts another object of the same window (named by that
 * event's sequence). Backfill objects (written by tiering) are named by their first and last sequences.
 */

/** Sequences are zero-padded to this many digits so that keys sort in stream order. */
const SEQ_DIGITS = 20;

/** A window of the stream: sequences `start` through `end`. */
export interface SeqWindow {
  readonly start: number;
  readonly end: number;
}

/** The window holding `seq`. */
export function windowOf(seq: number, windowSize: number): SeqWindow {
  const start = Math.floor((seq - 1) / windowSize) * windowSize + 1;
  return { start, end: start + windowSize - 1 };
}

/** Checks an archive prefix: one or more `/`-separated segments of safe characters, no leading or trailing `/`. */
export function assertPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9_.=-]+(\/[A-Za-z0-9_.=-]+)*$/.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
    throw new Error(`invalid cold archive prefix "${prefix}": use /-separated segments of [A-Za-z0-9_.=-]`);
  }
  return prefix;
}

/** The key prefix of a tenant/type/date partition, with its trailing `/`. */
export function partitionPrefix(prefix: string, tenant: string, type: string, date: string): string {
  return `${prefix}/tenant=${tenant}/type=${type}/date=${date}/`;
}

/** The object key of a partition's object covering `seqFrom` to `seqTo`. */
export function objectKey(prefix: string, tenant: string, type: string, date: string, seqFrom: number, seqTo: number): string {
  const pad = (n: number): string => String(n).padStart(SEQ_DIGITS, '0');
  return `${partitionPrefix(prefix, tenant, type, date)}${pad(seqFrom)}-${pad(seqTo)}.parquet`;
}

/** Rows of one object being assembled. */
export interface Part {
  readonly firstSeq: number;
  readonly rows: ColdRow[];
  bytes: number;
}

/**
 * Appends rows (ascending sequences) to `last`, the partition's open object in the window (if any), cutting a
 * new object whenever one would exceed `maxBytes`. Returns the parts that received rows, oldest first. A
 * single row larger than `maxBytes` gets an object of its own.
 */
export function appendRows(last: Part | undefined, rows: readonly ColdRow[], maxBytes: number): Part[] {
  const touched: Part[] = [];
  // A copy: the caller's `last` stays as committed until the batch commits.
  let current: Part | undefined = last && { firstSeq: last.firstSeq, rows: [...last.rows], bytes: last.bytes };
  for (const row of rows) {
    if (current === undefined || (current.rows.length > 0 && current.bytes + row.size > maxBytes)) {
      current = { firstSeq: row.seq, rows: [], bytes: 0 };
    }
    if (touched.at(-1) !== current) touched.push(current);
    current.rows.push(row);
    current.bytes += row.size;
  }
  return touched;
}

/** Key of a partition's grouping inside a window: tenant, type and date. */
export function partitionId(row: Pick<ColdRow, 'tenant' | 'type' | 'date'>): string {
  return `${row.tenant}\u0000${row.type}\u0000${row.date}`;
}
