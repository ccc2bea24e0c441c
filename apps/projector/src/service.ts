import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { parseEventSubject, quarantineSubject, type StoredEvent } from '@tideway/events';
import { BatchConsumer, JetStreamPublisher, applyDefinitions, connectNats, inNamespace, loadDefinitions, positionConsumer, streamName } from '@tideway/nats';
import { Counter, Gauge, createLogger, createMetricsRegistry, createServiceApp, listen, type RunningService } from '@tideway/service';
import { WarmEventWriter, acquireProjectionLock, isWarmStoreReady, migrateWarmStore, openWarmStore } from '@tideway/warm';
import type { ProjectorConfig } from './config.ts';
import { decodeEvent } from './decode.ts';

/**
 * Starts the warm projector: migrations, then a durable pull consumer whose batches are written to PostgreSQL
 * together with the checkpoint, and acknowledged (ack-all on the batch's last message) only after commit.
 */
export async function startProjector(config: ProjectorConfig, options: { handleSignals?: boolean } = {}): Promise<RunningService> {
  const logger = createLogger('projector', config.LOG_LEVEL);
  const metrics = createMetricsRegistry('projector');
  const store = openWarmStore({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: 4, applicationName: 'tideway-projector' });
  await migrateWarmStore(store, config.MIGRATIONS_DIR);
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-projector' });
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const jsm = await jetstreamManager(nats.nc);
  const definitions = inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace);
  await applyDefinitions(jsm, definitions);
  const stream = streamName('EVENTS', namespace);
  const consumerDefinition = definitions.consumers.find((c) => c.stream === stream && c.config.durable_name === config.PROJECTOR_CONSUMER);
  if (!consumerDefinition) throw new Error(`no consumer ${config.PROJECTOR_CONSUMER} of ${stream} in ${config.STREAMS_DIR}`);

  // One writer per projection: replicas beyond the first wait here as hot standbys.
  const writer = new WarmEventWriter(store, 'warm-events');
  const lock = await acquireProjectionLock(store, writer.projection, { onWaiting: () => logger.info('another projector holds the warm projection; standing by') });
  const position = await positionConsumer(jsm, stream, consumerDefinition.config, (await writer.checkpoint()) + 1);
  if (position.action === 'repositioned') logger.info({ ...position }, 'consumer repositioned at the checkpoint');
  const consumer = await jetstream(nats.nc).consumers.get(stream, config.PROJECTOR_CONSUMER);
  const quarantine = new JetStreamPublisher(nats.nc, { connected: nats.connected });
  const scheme = { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS };

  const written = new Counter({ name: 'tideway_projector_events_total', help: 'Events handled by the warm projection, by outcome', labelNames: ['outcome'], registers: [metrics] });
  const checkpointGauge = new Gauge({ name: 'tideway_projector_checkpoint_seq', help: 'Last stream sequence committed to the warm store', registers: [metrics] });
  new Gauge({
    name: 'tideway_projector_consumer_pending',
    help: 'Messages not yet delivered to the warm projector (consumer lag)',
    registers: [metrics],
    async collect() {
      try {
        const info = await consumer.info(true);
        this.set(info.num_pending + info.num_ack_pending);
      } catch {
        /* unknown while NATS is away */
      }
    },
  });
  checkpointGauge.set(await writer.checkpoint());

  const batches = new BatchConsumer(
    consumer,
    async (msgs) => {
      const good: StoredEvent[] = [];
      for (const msg of msgs) {
        const decoded = decodeEvent(msg);
        if (decoded.ok) {
          good.push(decoded.stored);
          continue;
        }
        const tenant = parseEventSubject(scheme, decoded.subject)?.tenant ?? 'unknown';
        await quarantine.publish({
          subject: quarantineSubject(scheme, tenant, 'projection-warm'),
          payload: decoded.payload,
          msgId: `warm-projector:${stream}:${decoded.seq}`,
          headers: { 'Tideway-Reason': decoded.reason, 'Tideway-Origin-Seq': String(decoded.seq), 'Tideway-Origin-Subject': decoded.subject },
        });
        written.inc({ outcome: 'quarantined' });
      }
      // Poison messages still advance the checkpoint: the batch's last sequence is what gets acked.
      const result = await writer.write(good, msgs.at(-1)!.seq);
      written.inc({ outcome: 'inserted' }, result.inserted);
      written.inc({ outcome: 'skipped' }, result.skipped);
      checkpointGauge.set(result.checkpoint);
    },
    {
      maxBatch: config.PROJECTOR_BATCH,
      maxWaitMs: config.PROJECTOR_MAX_WAIT_MS,
      ack: 'last',
      onError: (error, attempt) => logger.error({ err: error, attempt }, 'batch failed; retrying'),
    },
  );
  await batches.start();
  logger.info({ stream, consumer: config.PROJECTOR_CONSUMER }, 'consuming');

  const app = createServiceApp({
    name: 'projector',
    logger,
    metrics,
    readiness: { nats: () => nats.connected(), postgres: () => isWarmStoreReady(store) },
  });
  return listen(app, {
    port: config.PROJECTOR_PORT,
    logger,
    handleSignals: options.handleSignals ?? true,
    onShutdown: async () => {
      await batches.stop();
      await nats.nc.drain();
      await lock.release();
      await store.close();
    },
  });
}
