export { openWarmStore, migrateWarmStore, isWarmStoreReady, swapProjectionTables, WARM_PROJECTION_TABLES, dropSchema, warmChecksum, type WarmStore, type WarmStoreOptions, type WarmDatabase } from './db.ts';
export { WarmProjection, partitionNameFor } from './warm-projection.ts';
export {
  WarmEventReader,
  encodeCursor,
  decodeCursor,
  type EventFilter,
  type EventOrder,
  type EventPageRequest,
  type EventPage,
  type StoredEventRow,
} from './event-reader.ts';
export { events, projectionCheckpoints, entityState } from './schema.ts';
export { acquireProjectionLock, type ProjectionLock } from './projection-lock.ts';
export { WarmDerivedProjection } from './derived-projection.ts';
export { windowResults, anomalies, alerts, jobRuns, dailyEntityAggregates } from './schema.ts';
