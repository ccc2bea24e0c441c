/** Stable error codes of `@tideway/operators`. Only configuration mistakes throw; bad data never does. */
export const OperatorErrorCode = {
  /** An operator or detector was built with an option outside its domain (e.g. a window size of 0). */
  InvalidOption: 'invalid-operator-option',
  /** `restore()` was handed a snapshot that is not one this class wrote (wrong kind or version, bad fields). */
  InvalidSnapshot: 'invalid-snapshot',
  /** Two aggregate states built with different parameters (e.g. sketch accuracy) were merged. */
  IncompatibleMerge: 'incompatible-merge',
} as const;
export type OperatorErrorCode = (typeof OperatorErrorCode)[keyof typeof OperatorErrorCode];

/**
 * Thrown synchronously when an operator, aggregate or detector is configured wrongly or restored from a
 * foreign snapshot. Data flowing through a pipeline never causes it: bad events go to a side output.
 */
export class OperatorError extends Error {
  override readonly name = 'OperatorError';

  constructor(
    readonly code: OperatorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Type guard for {@link OperatorError}, optionally for one code. */
export function isOperatorError(error: unknown, code?: OperatorErrorCode): error is OperatorError {
  return error instanceof OperatorError && (code === undefined || error.code === code);
}

/** @internal Throws an {@link OperatorError} with code `invalid-operator-option` unless `ok`. */
export function requireOption(ok: boolean, message: string): void {
  if (!ok) throw new OperatorError(OperatorErrorCode.InvalidOption, message);
}

/** @internal Throws an {@link OperatorError} with code `invalid-snapshot` unless `ok`. */
export function requireSnapshot(ok: boolean, message: string): asserts ok {
  if (!ok) throw new OperatorError(OperatorErrorCode.InvalidSnapshot, message);
}
