import { bigint, date, index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The cold archive's manifest: one row per Parquet object that a reader may use. An object that is not listed
 * here does not exist as far as readers, tiering and rebuilds are concerned (it is an orphan of a crashed
 * write and gets overwritten or swept). Rows are written in the same transaction as the projection's
 * checkpoint, after the objects were confirmed written.
 */
export const coldObjects = pgTable(
  'cold_objects',
  {
    /** The cold projection that owns the object (live and shadow archives can share a schema). */
    projection: text('projection').notNull(),
    /** Full object key: `<prefix>/tenant=<t>/type=<type>/date=<yyyy-mm-dd>/<seqFrom>-<seqTo>.parquet`. */
    key: text('key').notNull(),
    tenant: text('tenant').notNull(),
    type: text('type').notNull(),
    /** UTC date of the event times in the object. */
    date: date('date', { mode: 'string' }).notNull(),
    /** `projection`: written by the cold projection; `backfill`: written by tiering from warm rows. */
    origin: text('origin').notNull(),
    /** The stream-sequence window the object belongs to (projection objects only). */
    windowStart: bigint('window_start', { mode: 'number' }),
    windowEnd: bigint('window_end', { mode: 'number' }),
    /** Smallest and largest stream sequence of the object's rows. */
    seqMin: bigint('seq_min', { mode: 'number' }).notNull(),
    seqMax: bigint('seq_max', { mode: 'number' }).notNull(),
    timeMin: timestamp('time_min', { withTimezone: true, mode: 'string', precision: 6 }).notNull(),
    timeMax: timestamp('time_max', { withTimezone: true, mode: 'string', precision: 6 }).notNull(),
    rowCount: integer('row_count').notNull(),
    /** Object size in bytes. */
    byteSize: bigint('byte_size', { mode: 'number' }).notNull(),
    /** Hex SHA-256 of the object's bytes. */
    sha256: text('sha256').notNull(),
    /** The object's Parquet columns, `[{ name, type }]`, in file order. */
    columns: jsonb('columns').notNull(),
    /** Version of the file layout (columns and encodings) the object was written with. */
    formatVersion: integer('format_version').notNull(),
    writtenAt: timestamp('written_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'cold_objects_pkey', columns: [t.projection, t.key] }),
    index('cold_objects_partition_idx').on(t.projection, t.tenant, t.type, t.date),
    index('cold_objects_tenant_date_idx').on(t.projection, t.tenant, t.date),
    index('cold_objects_window_idx').on(t.projection, t.windowStart),
    index('cold_objects_seq_idx').on(t.projection, t.seqMin),
  ],
);

/**
 * Where each cold projection stands in the log: the last stream sequence whose events are in committed
 * objects (or were quarantined). Moves only together with the manifest rows of the same batch.
 */
export const coldCheckpoints = pgTable('cold_checkpoints', {
  projection: text('projection').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});

/**
 * Typed Parquet columns flattened from top-level payload fields, per tenant and event type: a field gets a
 * column (`data_<field>`) the first time it appears with a scalar value, and the column's type never changes;
 * an event whose value has another type is quarantined by the projection. Written only by the projection, in
 * the transaction of the batch that introduced the field.
 */
export const coldColumns = pgTable(
  'cold_columns',
  {
    projection: text('projection').notNull(),
    tenant: text('tenant').notNull(),
    type: text('type').notNull(),
    /** The Parquet column name. */
    name: text('name').notNull(),
    /** The top-level `data` field it holds. */
    field: text('field').notNull(),
    /** `STRING`, `DOUBLE` or `BOOLEAN`. */
    columnType: text('column_type').notNull(),
    /** Sequence of the event that introduced the column. */
    firstSeq: bigint('first_seq', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'cold_columns_pkey', columns: [t.projection, t.tenant, t.type, t.name] })],
);
