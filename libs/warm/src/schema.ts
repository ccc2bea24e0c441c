import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * Event history: one row per stored event. `seq` is the JetStream stream sequence (unique and immutable in
 * the stream), so it is the natural key and the tie-breaker of every ordering.
 */
export const events = pgTable(
  'events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    tenant: text('tenant').notNull(),
    id: text('id').notNull(),
    source: text('source').notNull(),
    type: text('type').notNull(),
    subject: text('subject'),
    time: timestamp('time', { withTimezone: true, mode: 'string', precision: 6 }).notNull(),
    recordedTime: timestamp('recorded_time', { withTimezone: true, mode: 'string', precision: 6 }).notNull(),
    partitionKey: text('partition_key').notNull(),
    /** Every CloudEvents and extension attribute except `data`, exactly as stored on the stream. */
    attributes: jsonb('attributes').notNull(),
    data: jsonb('data'),
  },
  (t) => [
    uniqueIndex('events_tenant_source_id_key').on(t.tenant, t.source, t.id),
    index('events_tenant_time_seq_idx').on(t.tenant, t.time, t.seq),
    index('events_tenant_type_time_seq_idx').on(t.tenant, t.type, t.time, t.seq),
    index('events_tenant_subject_time_seq_idx').on(t.tenant, t.subject, t.time, t.seq).where(sql`${t.subject} is not null`),
    index('events_tenant_id_idx').on(t.tenant, t.id),
  ],
);

/**
 * Where each projection stands in the log: the last stream sequence whose effects are committed. Written in
 * the same transaction as the projection's rows, so rows and checkpoint can never disagree.
 */
export const projectionCheckpoints = pgTable('projection_checkpoints', {
  projection: text('projection').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
});
