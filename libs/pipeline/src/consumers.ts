/**
 * The durable consumers of pipelines. Their number depends on configuration (pipelines × partitions), so unlike
 * the fixed consumers in `streams/*.consumer.json` they are created by code from this template, in the NATS
 * CLI's JSON configuration format (`nats consumer add EVENTS --config` accepts what
 * {@link processorConsumerConfig} returns). NATS 2.9 allows one filter subject per consumer: each consumer
 * reads one event type in one partition.
 */
import { eventFilter, type SubjectScheme } from '@tideway/events';
import type { ConsumerDefinition } from '@tideway/nats';
import type { PipelineSpec } from './spec.ts';

/** Durable name of a pipeline's consumer for one partition: `processor-<pipeline>-p<partition>`. */
export function processorConsumerName(pipeline: string, partition: number): string {
  return `processor-${pipeline}-p${partition}`;
}

/** Tuning of the processor consumers. */
export interface ProcessorConsumerTuning {
  /** How long a delivered batch may stay unacknowledged before redelivery. Default 30 s. */
  readonly ackWaitMs?: number;
  /** Most messages delivered and not acknowledged. Default 4,000. */
  readonly maxAckPending?: number;
}

/**
 * The consumer of `spec` for `partition`: ack-all (a batch is acknowledged by acking its last message, after its
 * checkpoint is written), starting at the beginning; the processor repositions it at its checkpoint.
 */
export function processorConsumerConfig(spec: PipelineSpec, partition: number, scheme: SubjectScheme, tuning: ProcessorConsumerTuning = {}): ConsumerDefinition['config'] {
  return {
    durable_name: processorConsumerName(spec.name, partition),
    description: `Pipeline ${spec.name}, partition ${partition}: ack-all after the batch's outputs are published and its checkpoint (operator state + position) is written to KV.`,
    deliver_policy: 'all',
    ack_policy: 'all',
    ack_wait: (tuning.ackWaitMs ?? 30_000) * 1_000_000,
    max_deliver: -1,
    filter_subject: eventFilter(scheme, { ...(spec.source.tenant === undefined ? {} : { tenant: spec.source.tenant }), partition, type: spec.source.type }),
    replay_policy: 'instant',
    max_ack_pending: tuning.maxAckPending ?? 4_000,
    max_waiting: 512,
  };
}
