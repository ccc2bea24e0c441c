export { startIngest, type RunningIngest, type StartIngestOptions } from './service.ts';
export { loadIngestConfig, ingestEnv, type IngestConfig } from './config.ts';
export type { IngestResult, ItemOutcome } from './pipeline.ts';
export type { QuarantineItem, QuarantineRecord } from './quarantine.ts';
export type { BulkResult, BulkFailure } from './bulk.ts';
