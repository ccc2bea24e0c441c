export type { ProjectionStore, ApplyResult, WriterLock, AcquireWriterLock } from './port.ts';
export {
  runProjection,
  decodeStoredEvent,
  projectionControlSubject,
  type ProjectionRunnerOptions,
  type RunningProjection,
  type Decoded,
  type ControlRequest,
  type ControlReply,
} from './runner.ts';
export { readBounded, replayInto, parseBound, type LogRange, type BoundedRead, type BoundedReadOptions, type ArchiveSource, type ReplayProgress } from './replay.ts';
export { ReopenableStore } from './reopenable.ts';
