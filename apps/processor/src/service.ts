import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { SubjectScheme } from '@tideway/events';
import { JetStreamPublisher, applyDefinitions, connectNats, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import {
  CheckpointStore,
  LeaseStore,
  isPipelineError,
  PartitionRunner,
  loadPipelineSpecs,
  partitionsOf,
  processorConsumerName,
  selectPipelines,
  type BatchReport,
  type PipelineSpec,
} from '@tideway/pipeline';
import { Counter, Gauge, createLogger, createMetricsRegistry, createServiceApp, listen, type RunningService } from '@tideway/service';
import type { ProcessorConfig } from './config.ts';
import { AlertNotifier } from './notifier.ts';

/** Durable consumer of the alert notifier, defined in `streams/DERIVED.alert-notifier.consumer.json`. */
export const ALERT_NOTIFIER_CONSUMER = 'alert-notifier';

export interface StartProcessorOptions {
  /** Install SIGTERM/SIGINT handlers that shut down gracefully (default true). */
  readonly handleSignals?: boolean;
  /** Pipelines to run instead of the ones in PIPELINES_DIR (tests). */
  readonly pipelines?: readonly PipelineSpec[];
}

/** A running processor: its HTTP service plus what it runs. */
export interface RunningProcessor extends RunningService {
  readonly pipelines: readonly PipelineSpec[];
  /** The partitions this replica runs. */
  readonly partitions: readonly number[];
  readonly runners: readonly PartitionRunner[];
}

/**
 * Starts the stream processor: applies the stream definitions, opens the checkpoint bucket, and runs every
 * declared pipeline over the partitions this replica owns (partition p on replica p mod PROCESSOR_REPLICAS), one
 * durable consumer and one KV lease per pipeline and partition; and, when PROCESSOR_WEBHOOK_URL is set, the alert
 * notifier.
 * `/v1/pipelines` shows each partition's checkpoint, watermark and counts.
 */
export async function startProcessor(config: ProcessorConfig, options: StartProcessorOptions = {}): Promise<RunningProcessor> {
  const logger = createLogger('processor', config.LOG_LEVEL);
  const metrics = createMetricsRegistry('processor');
  const pipelines = options.pipelines ? [...options.pipelines] : selectPipelines(await loadPipelineSpecs(config.PIPELINES_DIR), config.PROCESSOR_PIPELINES);
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const scheme: SubjectScheme = { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS };
  const nats = await connectNats({ servers: config.NATS_URL, name: `tideway-processor-${config.replicaIndex}` });
  const jsm = await jetstreamManager(nats.nc);
  await applyDefinitions(jsm, inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace));
  const events = streamName('EVENTS', namespace);
  const derived = streamName('DERIVED', namespace);
  const store = await CheckpointStore.open(nats.nc, { bucket: `${config.PROCESSOR_STATE_BUCKET}${config.TIDEWAY_STREAM_SUFFIX}` });
  const leases = await LeaseStore.open(nats.nc, { bucket: `${config.PROCESSOR_LEASE_BUCKET}${config.TIDEWAY_STREAM_SUFFIX}`, ttlMs: config.PROCESSOR_LEASE_MS });
  const publisher = new JetStreamPublisher(nats.nc, { connected: nats.connected });
  const partitions = partitionsOf(config.replicaIndex, config.PROCESSOR_REPLICAS, scheme.partitions);

  const labels = ['pipeline'] as const;
  const messagesTotal = new Counter({ name: 'tideway_processor_messages_total', help: 'Input messages processed (checkpointed)', labelNames: labels, registers: [metrics] });
  const duplicatesTotal = new Counter({ name: 'tideway_processor_duplicates_total', help: 'Inputs dropped as duplicates (same tenant, source, id)', labelNames: labels, registers: [metrics] });
  const outputsTotal = new Counter({
    name: 'tideway_processor_derived_events_total',
    help: 'Derived events published, by type (provisional window previews counted as provisional)',
    labelNames: ['pipeline', 'type'],
    registers: [metrics],
  });
  const rejectedTotal = new Counter({
    name: 'tideway_processor_rejected_total',
    help: 'Inputs a pipeline could not use (invalid → QUARANTINE) or received too late (late → LATE), by stage and reason',
    labelNames: ['pipeline', 'stage', 'kind', 'reason'],
    registers: [metrics],
  });
  const batchesTotal = new Counter({ name: 'tideway_processor_batches_total', help: 'Batches committed (published, checkpointed, acked)', labelNames: labels, registers: [metrics] });
  const failuresTotal = new Counter({ name: 'tideway_processor_batch_failures_total', help: 'Batch attempts that failed and were retried', labelNames: labels, registers: [metrics] });
  const checkpointGauge = new Gauge({ name: 'tideway_processor_checkpoint_seq', help: 'Last stream sequence checkpointed, per pipeline and partition', labelNames: ['pipeline', 'partition'], registers: [metrics] });
  const watermarkGauge = new Gauge({ name: 'tideway_processor_watermark_seconds', help: 'Event-time watermark per pipeline and partition (unix seconds)', labelNames: ['pipeline', 'partition'], registers: [metrics] });
  const notifications = new Counter({ name: 'tideway_processor_notifications_total', help: 'Alert webhook posts by outcome', labelNames: ['outcome'], registers: [metrics] });
  new Gauge({ name: 'tideway_processor_partitions', help: 'Partitions this replica runs, per pipeline', labelNames: labels, registers: [metrics] }).set(partitions.length);

  const account = (report: BatchReport): void => {
    const { pipeline } = report;
    for (const o of report.outputs) {
      if (o.kind === 'derived') {
        const provisional = (o.event.data as { provisional?: boolean }).provisional === true;
        outputsTotal.inc({ pipeline, type: provisional ? 'provisional' : o.type });
      } else {
        rejectedTotal.inc({ pipeline, stage: o.stage, kind: o.kind, reason: o.reason });
      }
    }
    if (Number.isFinite(report.watermark)) watermarkGauge.set({ pipeline, partition: String(report.partition) }, report.watermark / 1000);
  };

  const runners: PartitionRunner[] = [];
  for (const spec of pipelines) {
    for (const partition of partitions) {
      runners.push(
        new PartitionRunner({
          nc: nats.nc,
          stream: events,
          scheme,
          spec,
          partition,
          store,
          leases,
          publisher,
          maxBatch: config.PROCESSOR_BATCH,
          maxWaitMs: config.PROCESSOR_MAX_WAIT_MS,
          provisionalAfterMs: config.PROCESSOR_PROVISIONAL_AFTER_MS,
          consumer: { ackWaitMs: config.PROCESSOR_ACK_WAIT_MS, maxAckPending: Math.max(1_000, config.PROCESSOR_BATCH * 4) },
          hooks: {
            onBatch: (report) => {
              messagesTotal.inc({ pipeline: report.pipeline }, report.messages);
              duplicatesTotal.inc({ pipeline: report.pipeline }, report.duplicates);
              batchesTotal.inc({ pipeline: report.pipeline });
              checkpointGauge.set({ pipeline: report.pipeline, partition: String(report.partition) }, report.lastSeq);
              account(report);
            },
            onProvisional: account,
            onError: (error, context) => {
              failuresTotal.inc({ pipeline: context.pipeline });
              // losing the partition is expected during a takeover: the batch stays unacknowledged for the new owner
              if (isPipelineError(error, 'checkpoint-conflict')) logger.warn({ reason: error.message, ...context }, 'not the partition owner; batch left to the new owner');
              else logger.error({ err: error, ...context }, 'pipeline batch failed; retrying');
            },
            onLost: (reason, context) => logger.warn({ reason, ...context }, 'lost the partition to another worker; standing by'),
            onActive: (context) => logger.info(context, 'running partition'),
          },
        }),
      );
    }
  }
  await Promise.all(runners.map((r) => r.start()));
  for (const r of runners) checkpointGauge.set({ pipeline: r.pipeline, partition: String(r.partition) }, r.status().checkpointSeq);

  new Gauge({
    name: 'tideway_processor_consumer_pending',
    help: 'Messages not yet processed, per pipeline and partition (consumer lag)',
    labelNames: ['pipeline', 'partition'],
    registers: [metrics],
    async collect() {
      const js = jetstream(nats.nc);
      await Promise.all(
        runners.map(async (r) => {
          try {
            const info = await (await js.consumers.get(events, processorConsumerName(r.pipeline, r.partition))).info(true);
            this.set({ pipeline: r.pipeline, partition: String(r.partition) }, info.num_pending + info.num_ack_pending);
          } catch {
            /* unknown while NATS is away */
          }
        }),
      );
    },
  });

  let notifier: AlertNotifier | undefined;
  if (config.PROCESSOR_WEBHOOK_URL) {
    notifier = new AlertNotifier({
      nc: nats.nc,
      stream: derived,
      consumer: ALERT_NOTIFIER_CONSUMER,
      url: config.PROCESSOR_WEBHOOK_URL,
      retries: config.PROCESSOR_WEBHOOK_RETRIES,
      timeoutMs: config.PROCESSOR_WEBHOOK_TIMEOUT_MS,
      backoffMs: config.PROCESSOR_WEBHOOK_BACKOFF_MS,
      log: logger,
      onOutcome: (outcome) => notifications.inc({ outcome }),
    });
    await notifier.start();
  }
  logger.info(
    { pipelines: pipelines.map((p) => p.name), replica: config.replicaIndex, replicas: config.PROCESSOR_REPLICAS, partitions, notifier: notifier !== undefined },
    'processing',
  );

  const app = createServiceApp({
    name: 'processor',
    logger,
    metrics,
    readiness: {
      nats: () => nats.connected(),
      // standby partitions (another replica holds their lease) are healthy; failed or starting ones are not
      partitions: () => runners.every((r) => r.status().state === 'running' || r.status().state === 'standby'),
    },
  });
  app.get('/v1/pipelines', (c) =>
    c.json({
      replica: config.replicaIndex,
      replicas: config.PROCESSOR_REPLICAS,
      pipelines: pipelines.map((spec) => ({
        name: spec.name,
        source: spec.source,
        partitions: runners
          .filter((r) => r.pipeline === spec.name)
          .map((r) => {
            const s = r.status();
            return { ...s, watermark: Number.isFinite(s.watermark) ? new Date(s.watermark).toISOString() : null };
          }),
      })),
    }),
  );

  const service = await listen(app, {
    port: config.PROCESSOR_PORT,
    logger,
    handleSignals: options.handleSignals ?? true,
    onShutdown: async () => {
      // Drain: each runner commits what it holds (publish, checkpoint, ack) before the connection goes.
      await notifier?.stop();
      await Promise.all(runners.map((r) => r.stop()));
      await nats.nc.drain();
    },
  });
  return { ...service, pipelines, partitions, runners };
}
