import { loadQueryConfig } from './config.ts';
import { startQuery } from './service.ts';

await startQuery(loadQueryConfig(process.env));
