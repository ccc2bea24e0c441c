export { startQuery, warmClock, type StartQueryOptions } from './service.ts';
export { loadQueryConfig, queryEnv, type QueryConfig } from './config.ts';
export { queryRoutes, API_VERSION } from './routes.ts';
export { tenantOf, positionAtLeast, type ProjectionClock, type ProjectionPosition } from './context.ts';
export type { QueryDeps, HotEntityReader } from './deps.ts';
export { coldEventSource } from './cold.ts';
