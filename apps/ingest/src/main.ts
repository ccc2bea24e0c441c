import { loadIngestConfig } from './config.ts';
import { startIngest } from './service.ts';

await startIngest(loadIngestConfig(process.env));
