import { z } from 'zod';
import { replicaIndexOf } from '@tideway/pipeline';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';

export const processorEnv = {
  ...commonEnv,
  PROCESSOR_PORT: portEnv(8083),
  /** Directory of the pipeline definitions (`*.pipeline.json`). */
  PIPELINES_DIR: z.string().default('pipelines'),
  /** Comma-separated names of the pipelines to run; empty runs every pipeline in PIPELINES_DIR. */
  PROCESSOR_PIPELINES: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== '')),
  /**
   * This replica's index (0-based), or a name ending in `-<ordinal>` such as a StatefulSet pod's hostname
   * (`processor-2`). Partition p runs on replica p mod PROCESSOR_REPLICAS.
   */
  PROCESSOR_REPLICA: z.string().default('0'),
  /** How many replicas share the partitions. */
  PROCESSOR_REPLICAS: z.coerce.number().int().min(1).max(1024).default(1),
  /** Most messages per batch; each batch ends with one checkpoint write and one ack. */
  PROCESSOR_BATCH: z.coerce.number().int().min(1).max(10_000).default(500),
  /** Longest a partial batch waits. */
  PROCESSOR_MAX_WAIT_MS: z.coerce.number().int().min(1).max(60_000).default(100),
  /**
   * Live idle handling: after this long without input on a partition, its open windows are published once as
   * provisional results (flagged, never replacing the event-time results). 0 switches it off.
   */
  PROCESSOR_PROVISIONAL_AFTER_MS: z.coerce.number().int().min(0).max(86_400_000).default(30_000),
  /** KV bucket of the checkpoints (TIDEWAY_STREAM_SUFFIX is appended). */
  PROCESSOR_STATE_BUCKET: z.string().regex(/^[A-Za-z0-9_-]+$/).default('processor-state'),
  /**
   * Partition lease time: a replica holds each partition it runs through a lease in JetStream KV, renewed every
   * quarter of this; a standby (a second replica configured for the same partitions) takes over this long after the
   * holder died. Graceful shutdown releases leases at once.
   */
  PROCESSOR_LEASE_MS: z.coerce.number().int().min(300).max(600_000).default(15_000),
  /** KV bucket of the partition leases (TIDEWAY_STREAM_SUFFIX is appended). */
  PROCESSOR_LEASE_BUCKET: z.string().regex(/^[A-Za-z0-9_-]+$/).default('processor-leases'),
  /** How long a delivered batch may stay unacknowledged before JetStream redelivers it. */
  PROCESSOR_ACK_WAIT_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
  /** Slack-compatible incoming-webhook URL alerts are posted to (`{"text": …}`). Unset: no notifications. */
  PROCESSOR_WEBHOOK_URL: z.url().optional(),
  /** Retries of one webhook post (exponential back-off) before the alert is handed back to JetStream for later. */
  PROCESSOR_WEBHOOK_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  /** Timeout of one webhook request. */
  PROCESSOR_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  /** First back-off delay between webhook attempts (doubles each retry, at most 30 s). */
  PROCESSOR_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(1).max(30_000).default(500),
};

export type ProcessorConfig = ReturnType<typeof loadProcessorConfig>;

/** Parses the processor's environment; a bad value fails with a message naming the variable. */
export function loadProcessorConfig(env: Readonly<Record<string, string | undefined>>) {
  const config = parseEnv(processorEnv, env);
  const replica = replicaIndexOf(config.PROCESSOR_REPLICA);
  if (replica === undefined) throw new Error(`invalid configuration:\n  PROCESSOR_REPLICA: "${config.PROCESSOR_REPLICA}" is neither an index nor a name ending in -<ordinal>`);
  if (replica >= config.PROCESSOR_REPLICAS) {
    throw new Error(`invalid configuration:\n  PROCESSOR_REPLICA: ${replica} is not below PROCESSOR_REPLICAS (${config.PROCESSOR_REPLICAS})`);
  }
  return { ...config, replicaIndex: replica };
}
