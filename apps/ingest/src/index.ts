export { startIngest } from './service.ts';
export { loadIngestConfig, type IngestConfig } from './config.ts';
