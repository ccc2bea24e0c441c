import type postgres from 'postgres';
import type { FileColumn } from './parquet.ts';
import { microsToIso } from './time.ts';

/** Who wrote an object: the cold projection, or tiering backfilling events the projection never saw. */
export type ObjectOrigin = 'projection' | 'backfill';

/** One manifest row: an object readers may use. */
export interface ManifestEntry {
  readonly key: string;
  readonly tenant: string;
  readonly type: string;
  /** UTC date partition, `YYYY-MM-DD`. */
  readonly date: string;
  readonly origin: ObjectOrigin;
  readonly windowStart: number | null;
  readonly windowEnd: number | null;
  readonly seqMin: number;
  readonly seqMax: number;
  /** Epoch microseconds. */
  readonly timeMin: bigint;
  readonly timeMax: bigint;
  readonly rowCount: number;
  readonly byteSize: number;
  readonly sha256: string;
  readonly columns: readonly FileColumn[];
  readonly formatVersion: number;
}

/** Which manifest rows to list. Every bound is optional and inclusive unless said otherwise. */
export interface ManifestQuery {
  readonly projection: string;
  readonly tenant?: string;
  readonly type?: string;
  readonly dateFrom?: string;
  readonly dateTo?: string;
  /** Objects with an event at or after this time (epoch µs). */
  readonly timeFrom?: bigint;
  /** Objects with an event before this time (exclusive, epoch µs). */
  readonly timeBefore?: bigint;
  readonly seqFrom?: number;
  readonly seqTo?: number;
  readonly origin?: ObjectOrigin;
  readonly windowStart?: number;
  readonly keys?: readonly string[];
}

interface ManifestRecord {
  key: string;
  tenant: string;
  type: string;
  date: string;
  origin: ObjectOrigin;
  window_start: string | null;
  window_end: string | null;
  seq_min: string;
  seq_max: string;
  time_min_us: string;
  time_max_us: string;
  row_count: number;
  byte_size: string;
  sha256: string;
  columns: FileColumn[];
  format_version: number;
}

function toEntry(r: ManifestRecord): ManifestEntry {
  return {
    key: r.key,
    tenant: r.tenant,
    type: r.type,
    date: r.date,
    origin: r.origin,
    windowStart: r.window_start === null ? null : Number(r.window_start),
    windowEnd: r.window_end === null ? null : Number(r.window_end),
    seqMin: Number(r.seq_min),
    seqMax: Number(r.seq_max),
    timeMin: BigInt(r.time_min_us),
    timeMax: BigInt(r.time_max_us),
    rowCount: r.row_count,
    byteSize: Number(r.byte_size),
    sha256: r.sha256,
    columns: r.columns,
    formatVersion: r.format_version,
  };
}

/** Lists manifest rows, ordered by key. */
export async function queryManifest(sql: postgres.Sql | postgres.TransactionSql, q: ManifestQuery): Promise<ManifestEntry[]> {
  const empty = sql``;
  const rows = await sql<ManifestRecord[]>`
    select key, tenant, type, date::text as date, origin, window_start, window_end, seq_min, seq_max,
           (extract(epoch from time_min) * 1000000)::bigint as time_min_us,
           (extract(epoch from time_max) * 1000000)::bigint as time_max_us,
           row_count, byte_size, sha256, columns, format_version
    from cold_objects
    where projection = ${q.projection}
      ${q.tenant !== undefined ? sql`and tenant = ${q.tenant}` : empty}
      ${q.type !== undefined ? sql`and type = ${q.type}` : empty}
      ${q.dateFrom !== undefined ? sql`and date >= ${q.dateFrom}::date` : empty}
      ${q.dateTo !== undefined ? sql`and date <= ${q.dateTo}::date` : empty}
      ${q.timeFrom !== undefined ? sql`and time_max >= ${microsToIso(q.timeFrom)}::timestamptz` : empty}
      ${q.timeBefore !== undefined ? sql`and time_min < ${microsToIso(q.timeBefore)}::timestamptz` : empty}
      ${q.seqFrom !== undefined ? sql`and seq_max >= ${q.seqFrom}` : empty}
      ${q.seqTo !== undefined ? sql`and seq_min <= ${q.seqTo}` : empty}
      ${q.origin !== undefined ? sql`and origin = ${q.origin}` : empty}
      ${q.windowStart !== undefined ? sql`and window_start = ${q.windowStart}` : empty}
      ${q.keys !== undefined ? sql`and key = any(${q.keys as string[]})` : empty}
    order by key`;
  return rows.map(toEntry);
}

/** A manifest row to write. */
export interface ManifestWrite {
  readonly key: string;
  readonly tenant: string;
  readonly type: string;
  readonly date: string;
  readonly origin: ObjectOrigin;
  readonly windowStart: number | null;
  readonly windowEnd: number | null;
  readonly seqMin: number;
  readonly seqMax: number;
  readonly timeMin: bigint;
  readonly timeMax: bigint;
  readonly rowCount: number;
  readonly byteSize: number;
  readonly sha256: string;
  readonly columns: readonly FileColumn[];
  readonly formatVersion: number;
}

/** Inserts or replaces manifest rows (by projection and key) inside the caller's transaction. */
export async function upsertManifest(tx: postgres.TransactionSql, projection: string, writes: readonly ManifestWrite[]): Promise<void> {
  for (let i = 0; i < writes.length; i += 1000) {
    const rows = writes.slice(i, i + 1000).map((w) => ({
      projection,
      key: w.key,
      tenant: w.tenant,
      type: w.type,
      date: w.date,
      origin: w.origin,
      window_start: w.windowStart,
      window_end: w.windowEnd,
      seq_min: w.seqMin,
      seq_max: w.seqMax,
      time_min: microsToIso(w.timeMin),
      time_max: microsToIso(w.timeMax),
      row_count: w.rowCount,
      byte_size: w.byteSize,
      sha256: w.sha256,
      // jsonb parameters travel as JSON text
      columns: JSON.stringify(w.columns),
      format_version: w.formatVersion,
    }));
    await tx`
      insert into cold_objects ${tx(rows)}
      on conflict (projection, key) do update set
        tenant = excluded.tenant, type = excluded.type, date = excluded.date, origin = excluded.origin,
        window_start = excluded.window_start, window_end = excluded.window_end,
        seq_min = excluded.seq_min, seq_max = excluded.seq_max, time_min = excluded.time_min, time_max = excluded.time_max,
        row_count = excluded.row_count, byte_size = excluded.byte_size, sha256 = excluded.sha256,
        columns = excluded.columns, format_version = excluded.format_version, written_at = now()`;
  }
}

/** The committed checkpoint of a cold projection (0 when it never committed). */
export async function readColdCheckpoint(sql: postgres.Sql | postgres.TransactionSql, projection: string): Promise<number> {
  const [row] = await sql<{ seq: string }[]>`select seq from cold_checkpoints where projection = ${projection}`;
  return row ? Number(row.seq) : 0;
}
