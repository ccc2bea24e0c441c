export type { ProjectionStore, ApplyResult, WriterLock, AcquireWriterLock } from './port.ts';
export { runProjection, decodeStoredEvent, type ProjectionRunnerOptions, type RunningProjection, type Decoded } from './runner.ts';
