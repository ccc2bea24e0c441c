import { JetStreamPublisher, applyDefinitions, connectNats, inNamespace, loadDefinitions } from '@tideway/nats';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLogger, createMetricsRegistry, createServiceApp, listen, Gauge, type RunningService } from '@tideway/service';
import type { IngestConfig } from './config.ts';
import { mountIngestRoutes } from './app.ts';
import { EventIngestor } from './ingestor.ts';

/** Starts the ingest service; resolves once it listens. */
export async function startIngest(config: IngestConfig, options: { handleSignals?: boolean } = {}): Promise<RunningService> {
  const logger = createLogger('ingest', config.LOG_LEVEL);
  const metrics = createMetricsRegistry('ingest');
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-ingest' });
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const applied = await applyDefinitions(await jetstreamManager(nats.nc), inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace));
  for (const r of applied) if (r.action !== 'unchanged') logger.info({ ...r }, `${r.kind} ${r.action}`);

  const publisher = new JetStreamPublisher(nats.nc, { maxInFlight: config.INGEST_MAX_IN_FLIGHT, connected: nats.connected });
  new Gauge({ name: 'tideway_ingest_publishes_pending', help: 'Publishes awaiting a JetStream ack', registers: [metrics], collect() {
    this.set(publisher.pending);
  } });
  const ingestor = new EventIngestor(
    publisher,
    { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS },
    { maxBatch: config.INGEST_MAX_BATCH, maxEventBytes: config.INGEST_MAX_EVENT_BYTES },
  );
  const app = createServiceApp({ name: 'ingest', logger, metrics, readiness: { nats: () => nats.connected() } });
  mountIngestRoutes(app, { ingestor, metrics, maxBodyBytes: config.INGEST_MAX_BODY_BYTES, defaultTenant: config.INGEST_DEFAULT_TENANT });
  return listen(app, {
    port: config.INGEST_PORT,
    logger,
    handleSignals: options.handleSignals ?? true,
    onShutdown: async () => {
      await nats.nc.drain();
    },
  });
}
