import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { GenerationalHotStore, HOT_DERIVED_CONSUMER, HOT_PROJECTOR_CONSUMER, HotGenerations, type HotProjectionStoreOptions } from '@tideway/hot';
import { applyDefinitions, connectNats, inNamespace, loadDefinitions, streamName, type Definitions } from '@tideway/nats';
import { createColdProjection, ensureColdBucket, migrateColdStore, openColdStore, s3Client, type ColdStore } from '@tideway/cold';
import { JobRunner, JobScheduler, dailyEntityAggregatesJob, tieringJob, type JobDefinition } from '@tideway/jobs';
import { ReopenableStore, runProjection, type AcquireWriterLock, type ProjectionStore, type RunningProjection } from '@tideway/projection';
import { Counter, Gauge, createLogger, createMetricsRegistry, createServiceApp, listen, type RunningService } from '@tideway/service';
import { WarmDerivedProjection, WarmProjection, acquireProjectionLock, isWarmStoreReady, migrateWarmStore, openWarmStore, type WarmStore } from '@tideway/warm';
import type { ProjectionName, ProjectorConfig } from './config.ts';

interface ProjectionPlan {
  readonly store: ProjectionStore;
  /** Base name of the stream it reads (EVENTS or DERIVED). */
  readonly stream: 'EVENTS' | 'DERIVED';
  /** Durable consumer (from streams/) on the EVENTS stream. */
  readonly consumer: string;
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  /** The store's own single-writer lock (the hot store's lives under its Redis prefix); default: a PostgreSQL advisory lock. */
  readonly acquireLock?: AcquireWriterLock;
}

function hotOptions(config: ProjectorConfig, redis: Redis): Omit<HotProjectionStoreOptions, 'prefix'> {
  return {
    redis,
    ttl: { entityMs: config.HOT_ENTITY_TTL_MS, windowsMs: config.HOT_WINDOWS_TTL_MS, anomaliesMs: config.HOT_ANOMALIES_TTL_MS, alertsMs: config.HOT_ALERTS_TTL_MS },
    limits: { maxValueBytes: config.HOT_MAX_VALUE_BYTES },
  };
}

function plan(name: ProjectionName, config: ProjectorConfig, warm: WarmStore, redis: () => Redis, cold: () => ColdStore): ProjectionPlan {
  switch (name) {
    case 'warm':
      return { store: new WarmProjection(warm), stream: 'EVENTS', consumer: 'warm-projector', maxBatch: config.PROJECTOR_BATCH, maxWaitMs: config.PROJECTOR_MAX_WAIT_MS };
    case 'derived':
      return { store: new WarmDerivedProjection(warm), stream: 'DERIVED', consumer: 'warm-derived', maxBatch: config.PROJECTOR_BATCH, maxWaitMs: config.PROJECTOR_MAX_WAIT_MS };
    case 'hot': {
      // Entity state from EVENTS; window results, anomalies and alerts come from DERIVED through `hot-derived`.
      // The store follows the live generation (see HotGenerations), so `tideway replay` can swap in a rebuild.
      const r = redis();
      const store = new GenerationalHotStore(new HotGenerations(r, config.HOT_PREFIX), { ...hotOptions(config, r), name: 'hot', derived: false });
      return { store, stream: 'EVENTS', consumer: HOT_PROJECTOR_CONSUMER, maxBatch: config.PROJECTOR_BATCH, maxWaitMs: config.PROJECTOR_MAX_WAIT_MS };
    }
    case 'cold': {
      // Rebuilt on reopen: the cold projection caches open objects, which a rebuild swap invalidates.
      const store = new ReopenableStore(() => createColdProjection({ store: cold(), prefix: config.COLD_PREFIX }));
      return { store, stream: 'EVENTS', consumer: 'cold-archiver', maxBatch: config.COLD_BATCH, maxWaitMs: config.COLD_MAX_WAIT_MS };
    }
    case 'hot-derived': {
      const r = redis();
      const store = new GenerationalHotStore(new HotGenerations(r, config.HOT_PREFIX), { ...hotOptions(config, r), name: 'hot-derived', entities: false });
      return { store, stream: 'DERIVED', consumer: HOT_DERIVED_CONSUMER, maxBatch: config.PROJECTOR_BATCH, maxWaitMs: config.PROJECTOR_MAX_WAIT_MS };
    }
  }
}

function consumerConfig(defs: Definitions, stream: string, durable: string) {
  const found = defs.consumers.find((c) => c.stream === stream && c.config.durable_name === durable);
  if (!found) throw new Error(`no consumer ${durable} of ${stream} in streams/`);
  return found.config;
}

/**
 * Starts the projector: migrations, then each configured projection (PROJECTIONS=warm,…) fed from its own
 * durable consumer by the projection runner (single-writer lock, consumer positioned at the checkpoint,
 * ack after commit).
 */
export async function startProjector(config: ProjectorConfig, options: { handleSignals?: boolean } = {}): Promise<RunningService> {
  const logger = createLogger('projector', config.LOG_LEVEL);
  const metrics = createMetricsRegistry('projector');
  // Each writer lock (one per projection, one for the job scheduler) holds a reserved connection for the life of
  // the process; the rest of the pool serves the writes.
  const warm = openWarmStore({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: 4 + config.PROJECTIONS.length + 1, applicationName: 'tideway-projector' });
  await migrateWarmStore(warm, config.MIGRATIONS_DIR);
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-projector' });
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const jsm = await jetstreamManager(nats.nc);
  const definitions = inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace);
  await applyDefinitions(jsm, definitions);
  const stream = streamName('EVENTS', namespace);
  const scheme = { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS };

  const handled = new Counter({ name: 'tideway_projection_events_total', help: 'Events handled per projection, by outcome', labelNames: ['projection', 'outcome'], registers: [metrics] });
  const checkpoints = new Gauge({ name: 'tideway_projection_checkpoint_seq', help: 'Last stream sequence committed per projection', labelNames: ['projection'], registers: [metrics] });
  let redis: Redis | undefined; // connected only when a hot projection runs
  let cold: ColdStore | undefined; // opened only when the cold projection runs
  if (config.PROJECTIONS.includes('cold')) {
    if (!config.S3_ENDPOINT) throw new Error('invalid configuration:\n  S3_ENDPOINT: required by the cold projection');
    const s3 = s3Client({ endpoint: config.S3_ENDPOINT, accessKey: config.S3_ACCESS_KEY, secretKey: config.S3_SECRET_KEY, region: config.S3_REGION });
    cold = openColdStore({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, s3, bucket: config.COLD_BUCKET });
    await migrateColdStore(cold, `${config.MIGRATIONS_DIR}/cold`);
    await ensureColdBucket(cold, config.S3_REGION);
  }
  const plans = config.PROJECTIONS.map((name) =>
    plan(name, config, warm, () => (redis ??= new Redis(config.REDIS_URL)), () => cold!),
  );
  new Gauge({
    name: 'tideway_projection_consumer_pending',
    help: 'Messages not yet committed per projection (consumer lag)',
    labelNames: ['projection'],
    registers: [metrics],
    async collect() {
      for (const p of plans) {
        try {
          const info = await jsm.consumers.info(streamName(p.stream, namespace), p.consumer);
          this.set({ projection: p.store.name }, info.num_pending + info.num_ack_pending);
        } catch {
          /* unknown while NATS is away */
        }
      }
    },
  });

  const running: RunningProjection[] = [];
  for (const p of plans) {
    checkpoints.set({ projection: p.store.name }, await p.store.checkpoint());
    running.push(
      await runProjection({
        nc: nats.nc,
        connected: nats.connected,
        stream: streamName(p.stream, namespace),
        consumer: consumerConfig(definitions, streamName(p.stream, namespace), p.consumer),
        store: p.store,
        scheme,
        acquireLock: p.acquireLock ?? ((projection, onWaiting) => acquireProjectionLock(warm, projection, { onWaiting })),
        maxBatch: p.maxBatch,
        maxWaitMs: p.maxWaitMs,
        log: logger,
        onBatch: (r) => {
          handled.inc({ projection: p.store.name, outcome: 'applied' }, r.applied);
          handled.inc({ projection: p.store.name, outcome: 'skipped' }, r.skipped);
          handled.inc({ projection: p.store.name, outcome: 'quarantined' }, r.quarantined);
          checkpoints.set({ projection: p.store.name }, r.checkpoint);
        },
      }),
    );
  }

  // Batch jobs: one scheduler per deployment (the lock), started in the background so a standby never blocks.
  const jobRuns = new Counter({ name: 'tideway_job_runs_total', help: 'Batch job runs by job and status', labelNames: ['job', 'status'], registers: [metrics] });
  let scheduler: JobScheduler | undefined;
  let schedulerLock: Awaited<ReturnType<typeof acquireProjectionLock>> | undefined;
  const schedulerAbort = new AbortController();
  if (config.PROJECTOR_JOBS === 'on') {
    const jobs: JobDefinition[] = [dailyEntityAggregatesJob()];
    if (cold) {
      const day = 86_400_000;
      const byTypeMs = Object.fromEntries(Object.entries(config.WARM_RETENTION_BY_TYPE).map(([t, d]) => [t, d * day]));
      jobs.push(tieringJob({ archive: { store: cold, prefix: config.COLD_PREFIX }, retention: { defaultMs: config.WARM_RETENTION_DAYS * day, byTypeMs } }));
    }
    const runner = new JobRunner({ nc: nats.nc, stream, scheme, warm, jobs });
    void acquireProjectionLock(warm, 'jobs-scheduler', { signal: schedulerAbort.signal, pollMs: 5_000 })
      .then(async (lock) => {
        schedulerLock = lock;
        scheduler = new JobScheduler(runner, (run) => {
          jobRuns.inc({ job: run.job, status: run.status });
          logger.info({ run }, `job ${run.job} ${run.status}`);
        });
        await scheduler.start();
      })
      .catch((error: unknown) => {
        if (!schedulerAbort.signal.aborted) logger.error({ err: error }, 'job scheduler failed');
      });
  }

  const app = createServiceApp({
    name: 'projector',
    logger,
    metrics,
    readiness: { nats: () => nats.connected(), postgres: () => isWarmStoreReady(warm), ...(redis ? { redis: () => redis?.status === 'ready' } : {}) },
  });
  return listen(app, {
    port: config.PROJECTOR_PORT,
    logger,
    handleSignals: options.handleSignals ?? true,
    onShutdown: async () => {
      schedulerAbort.abort();
      await scheduler?.stop();
      await schedulerLock?.release();
      for (const r of running) await r.stop();
      await nats.nc.drain();
      await warm.close();
      await cold?.close();
      await redis?.quit();
    },
  });
}
