import { loadProcessorConfig } from './config.ts';
import { startProcessor } from './service.ts';

await startProcessor(loadProcessorConfig(process.env));
