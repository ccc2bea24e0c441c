import { parquetReadObjects, type SchemaElement } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import type { EventEnvelope, StoredEvent } from '@tideway/events';
import { flatValue, type FlatColumn } from './columns.ts';
import { parseTimeMicros, utcDate } from './time.ts';

/** Version of the file layout below; recorded in the manifest and in the file's key-value metadata. */
export const FORMAT_VERSION = 1;

/**
 * One archived event, as the cold files hold it. `attributes` is the JSON text of the envelope without
 * `data` (as in the warm store); `data` is the JSON text of the payload (`"null"` for an explicit null), or
 * null when the event has none.
 */
export interface ColdRow {
  readonly seq: number;
  /** The NATS subject the event was stored under. */
  readonly streamSubject: string;
  readonly id: string;
  readonly tenant: string;
  readonly source: string;
  readonly type: string;
  readonly subject: string | null;
  /** Event time, epoch microseconds. */
  readonly time: bigint;
  readonly recordedTime: bigint;
  readonly partitionKey: string;
  readonly attributes: string;
  readonly data: string | null;
  /** The parsed payload (undefined when none), for the flattened columns. */
  readonly payload: unknown;
  /** UTC date of `time`: the date partition. */
  readonly date: string;
  /** Estimated encoded size in bytes, used to bound objects. */
  readonly size: number;
}

/** Fixed overhead per row in the size estimate: the non-JSON columns. */
const ROW_OVERHEAD = 64;

/** Why an event cannot be archived at all (independent of flattened columns), or undefined. */
export function unarchivableReason(event: EventEnvelope): string | undefined {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(event.tenant)) return 'tenant is not usable in an object key';
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(event.type) || event.type.length > 200) return 'type is not usable in an object key';
  for (const [name, value] of [
    ['time', event.time],
    ['recordedtime', event.recordedtime],
  ] as const) {
    try {
      parseTimeMicros(value);
    } catch {
      return `${name} is not an RFC 3339 timestamp`;
    }
  }
  return undefined;
}

/** The archive row of a stored event. Throws when {@link unarchivableReason} has a reason. */
export function rowFromEvent(stored: StoredEvent): ColdRow {
  const { event } = stored;
  const { data, ...rest } = event;
  const attributes = JSON.stringify(rest);
  const json = data === undefined ? null : JSON.stringify(data);
  const time = parseTimeMicros(event.time);
  return {
    seq: stored.seq,
    streamSubject: stored.subject,
    id: event.id,
    tenant: event.tenant,
    source: event.source,
    type: event.type,
    subject: event.subject ?? null,
    time,
    recordedTime: parseTimeMicros(event.recordedtime),
    partitionKey: event.partitionkey,
    attributes,
    data: json,
    payload: data,
    date: utcDate(time),
    size: attributes.length + (json?.length ?? 0) + ROW_OVERHEAD,
  };
}

/** The stored event a row came from. */
export function eventFromRow(row: ColdRow): StoredEvent {
  const attributes = JSON.parse(row.attributes) as Record<string, unknown>;
  const event = (row.data === null ? attributes : { ...attributes, data: JSON.parse(row.data) as unknown }) as EventEnvelope;
  return { seq: row.seq, subject: row.streamSubject, event };
}

const TIMESTAMP = { type: 'INT64', converted_type: 'TIMESTAMP_MICROS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } } as const;
const STRING = { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } } as const;

interface FixedColumn {
  readonly name: string;
  readonly kind: 'INT64' | 'STRING' | 'TIMESTAMP';
  readonly required: boolean;
  readonly value: (row: ColdRow) => unknown;
}

/** The fixed columns, in file order. */
const FIXED: readonly FixedColumn[] = [
  { name: 'seq', kind: 'INT64', required: true, value: (r) => BigInt(r.seq) },
  { name: 'id', kind: 'STRING', required: true, value: (r) => r.id },
  { name: 'tenant', kind: 'STRING', required: true, value: (r) => r.tenant },
  { name: 'source', kind: 'STRING', required: true, value: (r) => r.source },
  { name: 'type', kind: 'STRING', required: true, value: (r) => r.type },
  { name: 'subject', kind: 'STRING', required: false, value: (r) => r.subject },
  { name: 'time', kind: 'TIMESTAMP', required: true, value: (r) => r.time },
  { name: 'recorded_time', kind: 'TIMESTAMP', required: true, value: (r) => r.recordedTime },
  { name: 'partition_key', kind: 'STRING', required: true, value: (r) => r.partitionKey },
  { name: 'stream_subject', kind: 'STRING', required: true, value: (r) => r.streamSubject },
  // JSON text in UTF-8 strings: exact (the bytes the event had), and cheap to rewrite. Query it with
  // `data->>'field'` or `data::JSON` in DuckDB.
  { name: 'attributes', kind: 'STRING', required: true, value: (r) => r.attributes },
  { name: 'data', kind: 'STRING', required: false, value: (r) => r.data },
];

/** The names of the fixed columns. */
export const FIXED_COLUMNS: readonly string[] = FIXED.map((c) => c.name);

/** A column of a written file, as recorded in the manifest. */
export interface FileColumn {
  readonly name: string;
  /** Parquet (logical) type: INT64, STRING, TIMESTAMP, DOUBLE, BOOLEAN. */
  readonly type: string;
}

function element(name: string, kind: string, required: boolean): SchemaElement {
  const repetition_type = required ? 'REQUIRED' : 'OPTIONAL';
  switch (kind) {
    case 'INT64':
      return { name, type: 'INT64', repetition_type };
    case 'STRING':
      return { name, ...STRING, repetition_type };
    case 'TIMESTAMP':
      return { name, ...TIMESTAMP, repetition_type };
    case 'DOUBLE':
      return { name, type: 'DOUBLE', repetition_type };
    case 'BOOLEAN':
      return { name, type: 'BOOLEAN', repetition_type };
    default:
      throw new Error(`unknown column kind ${kind}`);
  }
}

/** An encoded Parquet object. */
export interface EncodedFile {
  readonly bytes: Uint8Array;
  readonly columns: readonly FileColumn[];
}

/**
 * Encodes rows (in the order given) as one Parquet file: Snappy-compressed, row groups of 10,000 rows with
 * statistics, the fixed columns, then the flattened payload columns that at least one row fills, by name.
 * The output is a pure function of the rows and columns (no timestamps, no randomness), so a rewrite of the
 * same rows yields the same bytes and checksum.
 */
export function encodeParquet(rows: readonly ColdRow[], flat: readonly FlatColumn[]): EncodedFile {
  const columnData: ColumnSource[] = [];
  const schema: SchemaElement[] = [];
  const columns: FileColumn[] = [];
  for (const c of FIXED) {
    columnData.push({ name: c.name, data: rows.map(c.value) as ColumnSource['data'] });
    schema.push(element(c.name, c.kind, c.required));
    columns.push({ name: c.name, type: c.kind });
  }
  for (const c of flat) {
    const values = rows.map((r) => flatValue(r.payload, c));
    if (values.every((v) => v === null)) continue;
    columnData.push({ name: c.name, data: values });
    schema.push(element(c.name, c.type, false));
    columns.push({ name: c.name, type: c.type });
  }
  schema.unshift({ name: 'root', num_children: columnData.length });
  const buffer = parquetWriteBuffer({
    columnData,
    schema,
    codec: 'SNAPPY',
    rowGroupSize: 10_000,
    kvMetadata: [{ key: 'tideway.cold.format', value: String(FORMAT_VERSION) }],
  });
  return { bytes: new Uint8Array(buffer), columns };
}

function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

const PARSERS = { timestampFromMicroseconds: (micros: bigint): bigint => micros };

/** Decodes the rows of a cold file (any format version so far). Flattened columns are not read: `data` has them. */
export async function decodeParquet(bytes: Uint8Array): Promise<ColdRow[]> {
  const records = await parquetReadObjects({ file: arrayBufferOf(bytes), columns: [...FIXED_COLUMNS], parsers: PARSERS });
  return records.map((r) => {
    const attributes = r['attributes'] as string;
    const data = (r['data'] as string | null | undefined) ?? null;
    const time = r['time'] as bigint;
    return {
      seq: Number(r['seq'] as bigint),
      streamSubject: r['stream_subject'] as string,
      id: r['id'] as string,
      tenant: r['tenant'] as string,
      source: r['source'] as string,
      type: r['type'] as string,
      subject: (r['subject'] as string | null | undefined) ?? null,
      time,
      recordedTime: r['recorded_time'] as bigint,
      partitionKey: r['partition_key'] as string,
      attributes,
      data,
      payload: data === null ? undefined : (JSON.parse(data) as unknown),
      date: utcDate(time),
      size: attributes.length + (data?.length ?? 0) + ROW_OVERHEAD,
    };
  });
}

/** Reads only the `seq` column of a cold file. */
export async function decodeSeqs(bytes: Uint8Array): Promise<number[]> {
  const records = await parquetReadObjects({ file: arrayBufferOf(bytes), columns: ['seq'] });
  return records.map((r) => Number(r['seq'] as bigint));
}
