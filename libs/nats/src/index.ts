export { connectNats, type NatsConnectionOptions, type TrackedNatsConnection } from './connection.ts';
export {
  loadDefinitions,
  inNamespace,
  applyDefinitions,
  positionConsumer,
  type PositionResult,
  diffConfig,
  streamName,
  defaultNamespace,
  type Namespace,
  type Definitions,
  type StreamDefinition,
  type ConsumerDefinition,
  type ApplyResult,
  type Drift,
} from './definitions.ts';
export { JetStreamPublisher, type PublishAck, type OutgoingMessage, type JetStreamPublisherOptions } from './publisher.ts';
export { BatchConsumer, type BatchConsumerOptions, type BatchHandler } from './batch-consumer.ts';
