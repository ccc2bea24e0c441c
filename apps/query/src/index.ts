export { startQuery } from './service.ts';
export { loadQueryConfig, type QueryConfig } from './config.ts';
