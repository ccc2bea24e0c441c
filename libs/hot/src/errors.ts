/** Stable error codes of `@tideway/hot`. */
export const HotStoreErrorCode = {
  /** A constructor option is outside its domain (e.g. an empty key prefix or a negative TTL). */
  InvalidOption: 'hot-invalid-option',
  /**
   * The checkpoint moved between reading the batch's current states and writing them: another writer applied a
   * batch meanwhile. Nothing was written; the runner retries the batch, which then skips what was applied.
   */
  CheckpointMoved: 'hot-checkpoint-moved',
  /** A key the store writes holds another Redis type (written by something else). Nothing was written. */
  KeyTypeConflict: 'hot-key-type-conflict',
  /** A value under the store's prefix is not what the store writes (e.g. an entity value that is not JSON). */
  CorruptValue: 'hot-corrupt-value',
  /** The single-writer lock could not be taken (stopped while waiting). */
  LockUnavailable: 'hot-lock-unavailable',
} as const;
export type HotStoreErrorCode = (typeof HotStoreErrorCode)[keyof typeof HotStoreErrorCode];

/**
 * Thrown by the hot store for a wrong option, a concurrent writer or foreign data under its prefix. Bad
 * events never cause it: the store names them in `reject` and the projection runner quarantines them.
 */
export class HotStoreError extends Error {
  override readonly name = 'HotStoreError';

  constructor(
    readonly code: HotStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Type guard for {@link HotStoreError}, optionally for one code. */
export function isHotStoreError(error: unknown, code?: HotStoreErrorCode): error is HotStoreError {
  return error instanceof HotStoreError && (code === undefined || error.code === code);
}

/** @internal Throws an {@link HotStoreError} with code `hot-invalid-option` unless `ok`. */
export function requireOption(ok: boolean, message: string): void {
  if (!ok) throw new HotStoreError(HotStoreErrorCode.InvalidOption, message);
}
