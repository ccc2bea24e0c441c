import { sql } from 'drizzle-orm';
import { bigint, boolean, doublePrecision, index, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * Event history: one row per stored event. `seq` is the JetStream stream sequence (unique and immutable in
 * the stream), so it is the natural key and the tie-breaker of every ordering.
 *
 * The table is natively partitioned by range of event `time`, one partition a day (`events_pYYYYMMDD`),
 * created by the writer on demand and dropped by tiering (migration 0001; drizzle-kit cannot express
 * partitioning, so that migration is hand-written). PostgreSQL requires the partition column in every unique
 * constraint, hence `(seq, time)` and `(tenant, source, id, time)`.
 */
export const events = pgTable(
  'events',
  {
    seq: bigint('seq', { mode: 'number' }).notNull(),
    tenant: text('tenant').notNull(),
    id: text('id').notNull(),
    source: text('source').notNull(),
    type: text('type').notNull(),
    subject: text('subject'),
    time: timestamp('time', { withTimezone: true, mode: 'string', precision: 6 }).notNull(),
    recordedTime: timestamp('recorded_time', { withTimezone: true, mode: 'string', precision: 6 }).notNull(),
    partitionKey: text('partition_key').notNull(),
    /** The entity the event is about (from the entity reducers), for entity history. */
    entityType: text('entity_type'),
    entityId: text('entity_id'),
    /** Every CloudEvents and extension attribute except `data`, exactly as stored on the stream. */
    attributes: jsonb('attributes').notNull(),
    data: jsonb('data'),
  },
  (t) => [
    primaryKey({ name: 'events_pkey', columns: [t.seq, t.time] }),
    uniqueIndex('events_tenant_source_id_key').on(t.tenant, t.source, t.id, t.time),
    index('events_tenant_entity_time_seq_idx').on(t.tenant, t.entityType, t.entityId, t.time, t.seq).where(sql`${t.entityId} is not null`),
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

/** Latest state per entity, folded by the entity reducers (the same ones the hot store uses). */
export const entityState = pgTable(
  'entity_state',
  {
    tenant: text('tenant').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    state: jsonb('state').notNull(),
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'entity_state_pkey', columns: [t.tenant, t.entityType, t.entityId] })],
);

/** One run of a scheduled batch job (a bounded replay through a pipeline into a projection). */
export const jobRuns = pgTable(
  'job_runs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    job: text('job').notNull(),
    /** The scheduled time this run is for; its window derives from it. */
    scheduledFor: timestamp('scheduled_for', { withTimezone: true, mode: 'string' }).notNull(),
    windowStart: timestamp('window_start', { withTimezone: true, mode: 'string' }).notNull(),
    windowEnd: timestamp('window_end', { withTimezone: true, mode: 'string' }).notNull(),
    status: text('status', { enum: ['running', 'succeeded', 'failed'] }).notNull(),
    trigger: text('trigger', { enum: ['schedule', 'manual', 'rerun'] }).notNull(),
    /** The run this one repeats, for re-runs. */
    rerunOf: bigint('rerun_of', { mode: 'number' }),
    eventsRead: bigint('events_read', { mode: 'number' }).notNull().default(0),
    rowsWritten: bigint('rows_written', { mode: 'number' }).notNull().default(0),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'string' }),
    durationMs: bigint('duration_ms', { mode: 'number' }),
    error: text('error'),
  },
  (t) => [index('job_runs_job_scheduled_idx').on(t.job, t.scheduledFor)],
);

/** Daily statistics per entity, written by the `daily-entity-aggregates` batch job (re-runs overwrite a day). */
export const dailyEntityAggregates = pgTable(
  'daily_entity_aggregates',
  {
    tenant: text('tenant').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    day: timestamp('day', { withTimezone: true, mode: 'string' }).notNull(),
    count: bigint('count', { mode: 'number' }).notNull(),
    stats: jsonb('stats').notNull(),
    jobRun: bigint('job_run', { mode: 'number' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: 'daily_entity_aggregates_pkey', columns: [t.tenant, t.entityType, t.entityId, t.day] })],
);

/**
 * Window results of stream-processing pipelines (`tideway.window.result` on the DERIVED stream), one row per
 * window: provisional previews, late updates and the final result overwrite it in stream order.
 */
export const windowResults = pgTable(
  'window_results',
  {
    tenant: text('tenant').notNull(),
    pipeline: text('pipeline').notNull(),
    stage: text('stage').notNull(),
    key: text('key').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true, mode: 'string' }).notNull(),
    windowEnd: timestamp('window_end', { withTimezone: true, mode: 'string' }).notNull(),
    aggregate: text('aggregate').notNull(),
    value: jsonb('value'),
    count: bigint('count', { mode: 'number' }).notNull(),
    final: boolean('final').notNull(),
    provisional: boolean('provisional').notNull(),
    updateCount: bigint('update_count', { mode: 'number' }).notNull(),
    trigger: text('trigger').notNull(),
    eventId: text('event_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ name: 'window_results_pkey', columns: [t.tenant, t.pipeline, t.stage, t.key, t.windowStart, t.windowEnd] }),
    index('window_results_tenant_pipeline_start_idx').on(t.tenant, t.pipeline, t.windowStart),
  ],
);

/** Anomalies detected by pipelines (`tideway.anomaly.detected`). */
export const anomalies = pgTable(
  'anomalies',
  {
    tenant: text('tenant').notNull(),
    id: text('id').notNull(),
    pipeline: text('pipeline').notNull(),
    stage: text('stage').notNull(),
    key: text('key').notNull(),
    value: doublePrecision('value').notNull(),
    score: doublePrecision('score').notNull(),
    threshold: doublePrecision('threshold').notNull(),
    components: jsonb('components').notNull(),
    eventTime: timestamp('event_time', { withTimezone: true, mode: 'string' }).notNull(),
    input: jsonb('input').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ name: 'anomalies_pkey', columns: [t.tenant, t.id] }),
    index('anomalies_tenant_time_idx').on(t.tenant, t.eventTime),
    index('anomalies_tenant_key_time_idx').on(t.tenant, t.key, t.eventTime),
  ],
);

/**
 * Alerts raised by pipelines (`tideway.alert.raised`). Acknowledging one is itself an event
 * (`tideway.alert.acknowledged`, subject = the alert id) on the EVENTS stream, so acknowledgements survive
 * rebuilds like everything else: they land in `entity_state` under entity type `tideway.alert.acknowledged`.
 */
export const alerts = pgTable(
  'alerts',
  {
    tenant: text('tenant').notNull(),
    id: text('id').notNull(),
    pipeline: text('pipeline').notNull(),
    stage: text('stage').notNull(),
    key: text('key').notNull(),
    value: doublePrecision('value').notNull(),
    score: doublePrecision('score').notNull(),
    threshold: doublePrecision('threshold').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'string' }).notNull(),
    summary: text('summary').notNull(),
    anomalyId: text('anomaly_id').notNull(),
    suppressedBefore: bigint('suppressed_before', { mode: 'number' }).notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'alerts_pkey', columns: [t.tenant, t.id] }), index('alerts_tenant_at_idx').on(t.tenant, t.at)],
);
