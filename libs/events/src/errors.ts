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
  /** No API key, or one that is unknown or revoked. */
  Unauthorized: 'unauthorized',
  /** The key lacks the scope the route needs. */
  Forbidden: 'forbidden',
  /** The key's request rate is over its limit; `Retry-After` says when to come back. */
  RateLimited: 'rate-limited',
  /** The gateway is saturated (too much work in flight); `Retry-After` says when to come back. */
  Overloaded: 'overloaded',
  /** One event is over the per-event size limit; nothing of the request was stored. */
  EventTooLarge: 'event-too-large',
  /** Every event of the request failed validation: all were quarantined, none reached the event log. */
  EventsQuarantined: 'events-quarantined',
  /** The resource is in a state that does not allow the operation (e.g. a quarantined item already resolved). */
  Conflict: 'conflict',
  /** A cold archive object is missing or does not match its manifest entry (checksum, rows). */
  ArchiveIntegrity: 'archive-integrity',
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
  unauthorized: 401,
  forbidden: 403,
  'rate-limited': 429,
  overloaded: 503,
  'event-too-large': 413,
  'events-quarantined': 422,
  conflict: 409,
  'archive-integrity': 500,
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
