export { PipelineErrorCode, PipelineError, isPipelineError } from './errors.ts';
export {
  PipelineNameSchema,
  FieldPathSchema,
  WindowShapeSchema,
  AggregateNameSchema,
  WindowStageSchema,
  AnomalyStageSchema,
  TimeRulesSchema,
  PipelineSpecSchema,
  PIPELINE_FILE_SUFFIX,
  parsePipelineSpec,
  detectorOptions,
  specHash,
  loadPipelineSpecs,
  selectPipelines,
  type AggregateName,
  type WindowStage,
  type AnomalyStage,
  type PipelineSpec,
  type PipelineSpecInput,
} from './spec.ts';
export { LogClock } from './clock.ts';
export { traced, aggregateByName, type TracedInput, type TracedState, type TracedResult } from './traced.ts';
export {
  PipelineEngine,
  EdgeRejectReason,
  readPath,
  type PipelineEngineOptions,
  type SourceMessage,
  type DerivedOutput,
  type RejectedOutput,
  type EngineOutput,
  type EngineCheckpoint,
  type EngineCounters,
} from './engine.ts';
export { CheckpointStore, type CheckpointStoreOptions, type StoredCheckpoint } from './checkpoint-store.ts';
export { partitionsOf, replicaIndexOf } from './assignment.ts';
export { processorConsumerName, processorConsumerConfig, type ProcessorConsumerTuning } from './consumers.ts';
export { toOutgoing } from './outgoing.ts';
export { PartitionRunner, sourceMessageOf, type PartitionRunnerOptions, type RunnerHooks, type RunnerStatus, type BatchReport } from './runner.ts';
export { replayPipeline, parseRangeBound, type RangeBound, type ReplayOptions, type ReplayReport } from './replay.ts';
export { stopReplayEngineThread } from './replay-host.ts';
export { LeaseStore, PartitionLease } from './lease.ts';
