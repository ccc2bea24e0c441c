/** Stable error codes of `@tideway/pipeline`. */
export const PipelineErrorCode = {
  /** A pipeline definition does not parse, or names an unknown aggregate. */
  InvalidPipeline: 'invalid-pipeline',
  /** No pipeline of that name is declared. */
  UnknownPipeline: 'unknown-pipeline',
  /**
   * The stored checkpoint was written by a different definition of the pipeline: its state cannot be restored
   * into the new operators. Give the changed pipeline a new name (new consumers, state and derived-event ids).
   */
  PipelineChanged: 'pipeline-changed',
  /** Someone else wrote the checkpoint since this worker read it: another replica owns the partition. */
  CheckpointConflict: 'checkpoint-conflict',
  /** A stored checkpoint cannot be read back (missing chunk, bad digest, not JSON). */
  CorruptCheckpoint: 'corrupt-checkpoint',
  /** A replay range is empty or its bounds are not sequences or RFC 3339 times. */
  InvalidRange: 'invalid-range',
} as const;
export type PipelineErrorCode = (typeof PipelineErrorCode)[keyof typeof PipelineErrorCode];

/** The error `@tideway/pipeline` throws for a bad definition or a checkpoint it must not continue from. */
export class PipelineError extends Error {
  override readonly name = 'PipelineError';

  constructor(
    readonly code: PipelineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Type guard for {@link PipelineError}, optionally for one code. */
export function isPipelineError(error: unknown, code?: PipelineErrorCode): error is PipelineError {
  return error instanceof PipelineError && (code === undefined || error.code === code);
}
