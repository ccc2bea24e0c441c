import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Hono } from 'hono';
import { Redis } from 'ioredis';
import { openAuth, RedisRateLimiter, type AuthEnv } from '@tideway/auth';
import {
  JetStreamPublisher,
  applyDefinitions,
  connectNats,
  inNamespace,
  loadDefinitions,
  streamName,
} from '@tideway/nats';
import { createWebhookRegistry } from '@tideway/producers';
import { builtInSchemaRegistry, type SchemaRegistry } from '@tideway/schemas';
import {
  createLogger,
  createMetricsRegistry,
  createServiceApp,
  listen,
  Gauge,
  type RunningService,
} from '@tideway/service';
import type { IngestConfig } from './config.ts';
import { AdmissionGate, countRefusals, GatewayMetrics, type Gateway } from './gateway.ts';
import { IngestPipeline, registryValidator } from './pipeline.ts';
import { PollerRunner } from './pollers/runner.ts';
import { QuarantineStore } from './quarantine.ts';
import { mountEventRoutes } from './routes/events.ts';
import { mountKeyRoutes } from './routes/keys.ts';
import { mountQuarantineRoutes } from './routes/quarantine.ts';
import { mountSchemaRoutes } from './routes/schemas.ts';
import { mountSegmentRoutes } from './routes/segment.ts';
import { mountUploadRoutes } from './routes/uploads.ts';
import { mountWebhookRoutes } from './routes/webhooks.ts';

/** Options of {@link startIngest}. */
export interface StartIngestOptions {
  readonly handleSignals?: boolean;
  /** The schema registry; the built-in one by default. */
  readonly registry?: SchemaRegistry;
}

/** A running gateway: the HTTP service, plus what tests look at. */
export interface RunningIngest extends RunningService {
  /** Records each poller published since start. */
  readonly pollers: PollerRunner;
}

/** Starts the ingestion gateway; resolves once it listens. */
export async function startIngest(config: IngestConfig, options: StartIngestOptions = {}): Promise<RunningIngest> {
  const logger = createLogger('ingest', config.LOG_LEVEL);
  const metricsRegistry = createMetricsRegistry('ingest');
  const metrics = new GatewayMetrics(metricsRegistry);
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const scheme = { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS };
  const registry = options.registry ?? builtInSchemaRegistry();
  const webhookConfigs = config.INGEST_WEBHOOKS;
  const webhooks = createWebhookRegistry(webhookConfigs.map((w) => w.source));

  const auth = await openAuth({
    url: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    cacheSeconds: config.TIDEWAY_KEY_CACHE_SECONDS,
    applicationName: 'tideway-ingest',
    ...(config.TIDEWAY_BOOTSTRAP_KEY === undefined ? {} : { bootstrapKey: config.TIDEWAY_BOOTSTRAP_KEY }),
    audit: {
      onError: (error) => logger.error({ err: error }, 'audit records could not be written'),
      onDropped: (n) => metrics.auditDropped.inc(n),
    },
    log: (message, fields) => logger.info(fields, message),
  });

  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-ingest' });
  const jsm = await jetstreamManager(nats.nc);
  const applied = await applyDefinitions(jsm, inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace));
  for (const r of applied) if (r.action !== 'unchanged') logger.info({ ...r }, `${r.kind} ${r.action}`);
  const kvm = new Kvm(nats.nc);
  const resolutions = await kvm.create(`QUARANTINE_RESOLUTIONS${config.TIDEWAY_STREAM_SUFFIX}`, { history: 5 });
  const cursors = await kvm.create(`INGEST_CURSORS${config.TIDEWAY_STREAM_SUFFIX}`, { history: 5 });

  const publisher = new JetStreamPublisher(nats.nc, {
    maxInFlight: config.INGEST_MAX_IN_FLIGHT,
    ackTimeoutMs: config.INGEST_ACK_TIMEOUT_MS,
    connected: nats.connected,
  });
  new Gauge({
    name: 'tideway_ingest_publishes_pending',
    help: 'Publishes awaiting a JetStream ack or a slot',
    registers: [metricsRegistry],
    collect() {
      this.set(publisher.pending);
    },
  });
  const admission = new AdmissionGate(config.INGEST_MAX_PENDING_BYTES);
  new Gauge({
    name: 'tideway_ingest_pending_body_bytes',
    help: 'Request body bytes reserved by requests in progress',
    registers: [metricsRegistry],
    collect() {
      this.set(admission.inUse);
    },
  });

  let redis: Redis | undefined;
  let limiter: RedisRateLimiter | undefined;
  if (config.TIDEWAY_AUTH === 'required' && config.INGEST_RATE_LIMIT_PER_SECOND > 0) {
    redis = new Redis(config.REDIS_URL, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 1_000,
      lazyConnect: true,
    });
    redis.on('error', (error: Error) => logger.debug({ err: error }, 'redis error'));
    await redis
      .connect()
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'redis unavailable at start; rate limits are off until it is'),
      );
    limiter = new RedisRateLimiter(redis, {
      ratePerSecond: config.INGEST_RATE_LIMIT_PER_SECOND,
      burst: config.INGEST_RATE_LIMIT_BURST,
      prefix: `${config.INGEST_REDIS_PREFIX}rl:`,
    });
  }

  const quarantine = new QuarantineStore({ scheme, stream: streamName('QUARANTINE', namespace), jsm, resolutions });
  const pipeline = new IngestPipeline(publisher, scheme, quarantine, { maxEventBytes: config.INGEST_MAX_EVENT_BYTES });
  const validator = registryValidator(registry);
  const gateway: Gateway = {
    config,
    logger,
    metrics,
    pipeline,
    validator,
    registry,
    quarantine,
    keys: auth.keys,
    audit: auth.audit,
    webhooks,
    webhookTenants: new Map(webhookConfigs.map((w) => [w.source.name, w.tenant])),
    publisher,
    ...(limiter === undefined ? {} : { limiter }),
    natsConnected: nats.connected,
    admission,
  };

  const app = createServiceApp({
    name: 'ingest',
    logger,
    metrics: metricsRegistry,
    readiness: {
      nats: () => nats.connected(),
      postgres: async () => {
        try {
          await auth.store.sql`select 1`;
          return true;
        } catch {
          return false;
        }
      },
    },
  }) as unknown as Hono<AuthEnv>;
  app.use('/v1/*', countRefusals(gateway));
  mountEventRoutes(app, gateway);
  mountSegmentRoutes(app, gateway);
  mountWebhookRoutes(app, gateway);
  mountUploadRoutes(app, gateway);
  mountQuarantineRoutes(app, gateway);
  mountSchemaRoutes(app, gateway);
  mountKeyRoutes(app, gateway);

  const pollers = new PollerRunner({
    pollers: config.INGEST_POLLERS,
    cursors,
    validate: validator,
    database: { url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA },
    logger,
    sink: async (poller, items) => {
      const result = await pipeline.ingest(items, {
        principal: { tenant: poller.tenant, keyId: `poller:${poller.name}`, scopes: ['ingest'], anonymous: false },
        channel: 'poller',
        receivedAt: new Date(),
        headers: {},
      });
      metrics.count('poller', result);
    },
  });
  pollers.start();

  const running = await listen(app as unknown as Hono, {
    port: config.INGEST_PORT,
    logger,
    handleSignals: options.handleSignals ?? true,
    onShutdown: async () => {
      await pollers.stop();
      await nats.nc.drain();
      await auth.close();
      redis?.disconnect();
    },
  });
  return { ...running, pollers };
}
