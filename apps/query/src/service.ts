import { createLogger, createMetricsRegistry, createServiceApp, listen, type RunningService } from '@tideway/service';
import { WarmEventReader, isWarmStoreReady, openWarmStore } from '@tideway/warm';
import type { QueryConfig } from './config.ts';
import { queryRoutes } from './routes.ts';

/** Starts the query API over the warm store. */
export async function startQuery(config: QueryConfig, options: { handleSignals?: boolean } = {}): Promise<RunningService> {
  const logger = createLogger('query', config.LOG_LEVEL);
  const metrics = createMetricsRegistry('query');
  const store = openWarmStore({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    max: 10,
    statementTimeoutMs: config.QUERY_STATEMENT_TIMEOUT_MS,
    applicationName: 'tideway-query',
  });
  const app = createServiceApp({ name: 'query', logger, metrics, readiness: { postgres: () => isWarmStoreReady(store) } });
  app.route('/', queryRoutes(new WarmEventReader(store), config.QUERY_DEFAULT_TENANT));
  return listen(app, {
    port: config.QUERY_PORT,
    logger,
    handleSignals: options.handleSignals ?? true,
    onShutdown: () => store.close(),
  });
}
