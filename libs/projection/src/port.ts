import type { StoredEvent } from '@tideway/events';

/** What one atomic apply did. */
export interface ApplyResult {
  /** Events whose effects were written. */
  readonly applied: number;
  /** Events at or below the checkpoint: already applied (a redelivery or an overlapping replay). */
  readonly skipped: number;
  /** The checkpoint after the apply. */
  readonly checkpoint: number;
}

/**
 * The port every projection store implements (hot Redis, warm PostgreSQL, cold S3). The contract that makes
 * projections effectively-once:
 *
 * - `apply` is atomic: the batch's effects and the new checkpoint (`throughSeq`) commit together or not at all;
 * - `apply` ignores events at or below the stored checkpoint, so a redelivered or replayed batch is harmless;
 * - `checkpoint` reads what was committed, so a restarted runner resumes exactly after it.
 */
export interface ProjectionStore {
  /** Unique name; also the name of the single-writer lock and the checkpoint. */
  readonly name: string;
  /** The last stream sequence whose effects are committed (0: none). */
  checkpoint(): Promise<number>;
  /**
   * Why this store cannot hold an event (too large, a type conflict…), or undefined when it can. Events with
   * a reason are quarantined by the runner and skipped, never retried forever.
   */
  reject?(event: StoredEvent): string | undefined;
  /**
   * Re-resolves where the store writes (e.g. the live generation after a rebuild swapped one in). The runner
   * calls it when it starts and whenever it resumes, while holding the writer lock.
   */
  reopen?(): Promise<void>;
  /**
   * How many `apply` calls may be running at once (default 1). A store that allows more must commit them in the
   * order they were called and never commit one whose predecessor failed; the runner calls `apply` in batch
   * order and acknowledges in that order.
   */
  readonly maxConcurrentApplies?: number;
  /** Applies `batch` (ascending sequences) and moves the checkpoint to `throughSeq` in one atomic step. */
  apply(batch: readonly StoredEvent[], throughSeq: number): Promise<ApplyResult>;
}

/** A held single-writer lock. */
export interface WriterLock {
  release(): Promise<void>;
}

/** Takes the single-writer lock of a projection, waiting while another process holds it. */
export type AcquireWriterLock = (projection: string, onWaiting: () => void) => Promise<WriterLock>;
