import type { FlatColumn } from './columns.ts';
import type { ColdStore } from './db.ts';
import { assertPrefix } from './layout.ts';
import type { ManifestWrite, ObjectOrigin } from './manifest.ts';
import { putObjectConfirmed, sha256Hex } from './objects.ts';
import { encodeParquet, FORMAT_VERSION, type ColdRow } from './parquet.ts';

/** Default name of the cold projection (its checkpoint, manifest rows and single-writer lock). */
export const DEFAULT_COLD_PROJECTION = 'cold-events';

/**
 * One cold archive: where its objects live and how they are cut. The projection, the reader and tiering
 * of the same archive must agree on these (pass the same options to each).
 */
export interface ColdArchiveOptions {
  readonly store: ColdStore;
  /** Projection name: its checkpoint, manifest rows and writer lock (default `cold-events`). */
  readonly name?: string;
  /** Key prefix of every object, without leading or trailing `/` (default `events`; a shadow uses another). */
  readonly prefix?: string;
  /**
   * Stream sequences per window (default 50,000). An object holds one tenant/type/date's events of one
   * window, so this bounds both the rows a projector keeps in memory for rewrites and how many times an
   * object is rewritten (≈ window / batch size / 2). Changing it affects only windows not yet started.
   */
  readonly windowSize?: number;
  /** Upper bound of an object's estimated uncompressed size (default 32 MiB); more rows start a new object. */
  readonly maxObjectBytes?: number;
  /** Most flattened `data_<field>` columns per tenant and event type (default 100; 0 turns flattening off). */
  readonly maxFlattenedColumns?: number;
  /** Objects written or read in parallel (default 4). */
  readonly concurrency?: number;
}

/** {@link ColdArchiveOptions} with every default filled in. */
export interface ResolvedArchive {
  readonly store: ColdStore;
  readonly name: string;
  readonly prefix: string;
  readonly windowSize: number;
  readonly maxObjectBytes: number;
  readonly maxFlattenedColumns: number;
  readonly concurrency: number;
}

/** Fills in the defaults and checks the options. */
export function resolveArchive(options: ColdArchiveOptions): ResolvedArchive {
  const windowSize = options.windowSize ?? 50_000;
  if (!Number.isSafeInteger(windowSize) || windowSize < 1) throw new Error(`windowSize must be a positive integer, got ${windowSize}`);
  const maxObjectBytes = options.maxObjectBytes ?? 32 * 1024 * 1024;
  if (!(maxObjectBytes > 0)) throw new Error(`maxObjectBytes must be positive, got ${maxObjectBytes}`);
  return {
    store: options.store,
    name: options.name ?? DEFAULT_COLD_PROJECTION,
    prefix: assertPrefix(options.prefix ?? 'events'),
    windowSize,
    maxObjectBytes,
    maxFlattenedColumns: options.maxFlattenedColumns ?? 100,
    concurrency: Math.max(1, options.concurrency ?? 4),
  };
}

/**
 * Encodes `rows` (one tenant, type and date; ascending sequences), puts the object, and returns its manifest
 * row once the store confirmed the write. The manifest row is the caller's to commit.
 */
export async function writeColdObject(
  archive: ResolvedArchive,
  key: string,
  rows: readonly ColdRow[],
  flat: readonly FlatColumn[],
  origin: ObjectOrigin,
  window: { start: number; end: number } | null,
): Promise<ManifestWrite> {
  const first = rows[0];
  const last = rows.at(-1);
  if (!first || !last) throw new Error(`no rows for object ${key}`);
  const file = encodeParquet(rows, flat);
  const sha256 = sha256Hex(file.bytes);
  await putObjectConfirmed(archive.store.s3, archive.store.bucket, key, file.bytes, sha256);
  let timeMin = first.time;
  let timeMax = first.time;
  for (const r of rows) {
    if (r.time < timeMin) timeMin = r.time;
    if (r.time > timeMax) timeMax = r.time;
  }
  return {
    key,
    tenant: first.tenant,
    type: first.type,
    date: first.date,
    origin,
    windowStart: window?.start ?? null,
    windowEnd: window?.end ?? null,
    seqMin: first.seq,
    seqMax: last.seq,
    timeMin,
    timeMax,
    rowCount: rows.length,
    byteSize: file.bytes.length,
    sha256,
    columns: file.columns,
    formatVersion: FORMAT_VERSION,
  };
}
