import { Redis } from 'ioredis';
import { Client as MinioClient } from 'minio';
import { ColdArchiveReader, openColdStore, type ColdStore } from '@tideway/cold';
import { authenticate, openAuth } from '@tideway/auth';
import { AnalyticsReader } from '@tideway/analytics';
import { dedupeId, eventSubject } from '@tideway/events';
import { EventSearch, projectionCheckpoint, type ColdEventSource } from '@tideway/event-query';
import { GenerationalHotReader, HotGenerations } from '@tideway/hot';
import { JetStreamPublisher, connectNats, streamName } from '@tideway/nats';
import { builtInSchemaRegistry } from '@tideway/schemas';
import { Gauge, createLogger, createMetricsRegistry, createServiceApp, listen, type RunningService } from '@tideway/service';
import { isWarmStoreReady, openWarmStore, type WarmStore } from '@tideway/warm';
import { coldEventSource } from './cold.ts';
import { compression } from './compress.ts';
import type { QueryConfig } from './config.ts';
import type { ProjectionClock } from './context.ts';
import type { QueryDeps } from './deps.ts';
import { JetStreamTailSource } from './live-tail.ts';
import { docsRoutes } from './routes/docs.ts';
import { queryRoutes } from './routes.ts';

/** A warm-store projection's position (`projection_checkpoints`); 0 until it first commits. */
export function warmClock(store: WarmStore, projection: string): ProjectionClock {
  return async () => {
    const cp = await projectionCheckpoint(store, projection);
    return cp ? { projection, seq: cp.seq, updatedAt: cp.updatedAt } : { projection, seq: 0 };
  };
}

export interface StartQueryOptions {
  readonly handleSignals?: boolean;
  /** The cold archive to merge into event reads (the `@tideway/cold` reader behind the `ColdEventSource` port). */
  readonly cold?: ColdEventSource;
}

/**
 * Starts the query API: event history (warm + cold), entities (hot, then warm), aggregates, window results,
 * anomalies and alerts (the warm tables of derived events), the live tail (JetStream), exports, the catalog, `/openapi.json`
 * and `/docs`.
 */
export async function startQuery(config: QueryConfig, options: StartQueryOptions = {}): Promise<RunningService> {
  const logger = createLogger('query', config.LOG_LEVEL);
  const metrics = createMetricsRegistry('query');
  const warm = openWarmStore({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    max: config.QUERY_DB_POOL,
    statementTimeoutMs: config.QUERY_STATEMENT_TIMEOUT_MS,
    applicationName: 'tideway-query',
  });
  // API keys (scope `query`): the tables are migrated and the bootstrap key registered by whichever app starts first.
  const auth = await openAuth({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    cacheSeconds: config.TIDEWAY_KEY_CACHE_SECONDS,
    applicationName: 'tideway-query-auth',
    ...(config.TIDEWAY_BOOTSTRAP_KEY === undefined ? {} : { bootstrapKey: config.TIDEWAY_BOOTSTRAP_KEY }),
  });
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-query' });
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const publisher = new JetStreamPublisher(nats.nc, { connected: nats.connected, maxInFlight: 64 });
  const scheme = { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS };
  const live = new JetStreamTailSource(nats.nc, streamName('EVENTS', namespace), (base) => streamName(base, namespace), nats.connected);

  let redis: Redis | undefined;
  let hot: GenerationalHotReader | undefined;
  if (config.QUERY_HOT === 'on') {
    // Fail fast while Redis is away: entity reads then fall back to the warm store instead of queueing.
    redis = new Redis(config.REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
    redis.on('error', () => {});
    await redis.connect().catch((error: unknown) => logger.warn({ err: error }, 'hot store (Redis) not reachable; entities are read from the warm store'));
    // follows the live generation, so a `tideway replay` swap is seen within a second
    hot = new GenerationalHotReader(redis, new HotGenerations(redis, config.HOT_PREFIX));
  }

  let cold = options.cold;
  let coldStore: ColdStore | undefined;
  if (!cold && config.QUERY_COLD === 'on') {
    if (!config.S3_ENDPOINT) throw new Error('invalid configuration:\n  S3_ENDPOINT: required when QUERY_COLD=on');
    const url = new URL(config.S3_ENDPOINT);
    const s3 = new MinioClient({
      endPoint: url.hostname,
      port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      useSSL: url.protocol === 'https:',
      accessKey: config.S3_ACCESS_KEY ?? '',
      secretKey: config.S3_SECRET_KEY ?? '',
      region: config.S3_REGION,
      pathStyle: true,
    });
    coldStore = openColdStore({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, s3, bucket: config.COLD_BUCKET, max: 4, applicationName: 'tideway-query-cold' });
    cold = coldEventSource(new ColdArchiveReader({ store: coldStore, prefix: config.COLD_PREFIX, name: config.COLD_PROJECTION }));
  }

  const deps: QueryDeps = {
    config,
    warm,
    search: new EventSearch(warm, cold),
    analytics: new AnalyticsReader(warm),
    registry: builtInSchemaRegistry(),
    clocks: {
      warm: warmClock(warm, config.WARM_PROJECTION),
      derived: warmClock(warm, config.DERIVED_PROJECTION),
      ...(hot ? { hot: async () => ({ projection: config.HOT_PROJECTION, seq: await hot.checkpoint(config.HOT_PROJECTION) }) } : {}),
    },
    ...(hot ? { hot } : {}),
    live,
    publish: async (event) =>
      publisher.publish({
        subject: eventSubject(scheme, event.tenant, event.type, event.partitionkey),
        payload: new TextEncoder().encode(JSON.stringify(event)),
        msgId: dedupeId(event.tenant, event.source, event.id),
      }),
    coldArchive: cold !== undefined,
  };
  const { api, liveClients } = queryRoutes(
    deps,
    scheme,
    {
      heartbeatMs: config.QUERY_SSE_HEARTBEAT_MS,
      buffer: config.QUERY_SSE_BUFFER,
      slowClientMs: config.QUERY_SSE_SLOW_CLIENT_MS,
      maxClients: config.QUERY_SSE_MAX_CLIENTS,
    },
  );
  new Gauge({
    name: 'tideway_query_live_clients',
    help: 'Open live-tail (SSE) connections',
    registers: [metrics],
    collect() {
      this.set(liveClients());
    },
  });

  const app = createServiceApp({ name: 'query', logger, metrics, readiness: { postgres: () => isWarmStoreReady(warm) } });
  app.use('*', compression());
  // Every /v1 route needs a key with the `query` scope; routes read its tenant through tenantOf (c.var.principal).
  app.use('/v1/*', authenticate({ mode: config.TIDEWAY_AUTH, keys: auth.keys, defaultTenant: config.QUERY_DEFAULT_TENANT, scope: 'query' }));
  app.route('/', api);
  app.route('/', docsRoutes());
  return listen(app, {
    port: config.QUERY_PORT,
    logger,
    handleSignals: options.handleSignals ?? true,
    onShutdown: async () => {
      await nats.nc.drain().catch(() => {});
      redis?.disconnect();
      await coldStore?.close();
      await auth.close();
      await warm.close();
    },
  });
}
