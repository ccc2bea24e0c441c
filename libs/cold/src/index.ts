/**
 * The cold archive: the event log as compacted Parquet objects on S3-compatible storage, partitioned by
 * tenant / event type / date, with a manifest in PostgreSQL. See docs/cold-store.md.
 */
export { openColdStore, migrateColdStore, ensureColdBucket, isColdStoreReady, type ColdStore, type ColdStoreOptions, type ColdDatabase } from './db.ts';
export { DEFAULT_COLD_PROJECTION, resolveArchive, type ColdArchiveOptions, type ResolvedArchive } from './archive.ts';
export { ColdProjection, createColdProjection, type ColdProjectionOptions } from './projection.ts';
export { ColdArchiveReader, type ColdEventFilter } from './reader.ts';
export {
  tierWarmToCold,
  retentionCutoffs,
  type TierWarmToColdOptions,
  type TieringCutoffs,
  type TieringReport,
  type TieringUnit,
  type WarmRetention,
} from './tiering.ts';
export { queryManifest, readColdCheckpoint, type ManifestEntry, type ManifestQuery, type ObjectOrigin } from './manifest.ts';
export { objectKey, partitionPrefix, windowOf, type SeqWindow } from './layout.ts';
export { FIXED_COLUMNS, FORMAT_VERSION, type FileColumn } from './parquet.ts';
export { flatColumnName, type FlatColumn, type FlatType } from './columns.ts';
export { coldObjects, coldCheckpoints, coldColumns } from './schema.ts';
export { s3Client, type S3Settings } from './s3.ts';
