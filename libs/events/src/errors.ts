/** Stable error codes. They appear in problem+json `type` URIs, so never rename one. */
export const ErrorCode = {
  InvalidEvent: 'invalid-event',
  InvalidBody: 'invalid-body',
  EmptyBatch: 'empty-batch',
  BodyTooLarge: 'body-too-large',
  BatchTooLarge: 'batch-too-large',
  UnsupportedMediaType: 'unsupported-media-type',
  InvalidQuery: 'invalid-query',
  NotFound: 'not-found',
  TenantMismatch: 'tenant-mismatch',
  StoreUnavailable: 'store-unavailable',
  PublishFailed: 'publish-failed',
  Internal: 'internal',
  WebhookUnknownSource: 'webhook-unknown-source',
  WebhookSignatureMissing: 'webhook-signature-missing',
  WebhookSignatureInvalid: 'webhook-signature-invalid',
  WebhookTimestampOutsideTolerance: 'webhook-timestamp-outside-tolerance',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One bad field of one item of a request. */
export interface FieldIssue {
  /** Index of the item in the batch, when the request held several. */
  readonly index?: number;
  /** JSON pointer to the field, e.g. `/0/data/reading_value`. */
  readonly pointer: string;
  readonly message: string;
}

const STATUS: Record<ErrorCode, number> = {
  'invalid-event': 400,
  'invalid-body': 400,
  'empty-batch': 400,
  'body-too-large': 413,
  'batch-too-large': 413,
  'unsupported-media-type': 415,
  'invalid-query': 400,
  'not-found': 404,
  'tenant-mismatch': 403,
  'store-unavailable': 503,
  'publish-failed': 503,
  internal: 500,
  'webhook-unknown-source': 404,
  'webhook-signature-missing': 401,
  'webhook-signature-invalid': 401,
  'webhook-timestamp-outside-tolerance': 401,
};

/** The error every Tideway library throws for a caller's mistake or an unavailable dependency. */
export class TidewayError extends Error {
  override readonly name = 'TidewayError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { issues?: readonly FieldIssue[]; retryAfterSeconds?: number; [key: string]: unknown } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = STATUS[code];
  }
}

export function isTidewayError(error: unknown): error is TidewayError {
  return error instanceof TidewayError;
}
