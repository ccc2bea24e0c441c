import type { Context } from 'hono';
import { ErrorCode, isTidewayError, type TidewayError } from '@tideway/events';

/** Base of every problem `type` URI. The path segment after it is the stable error code. */
export const PROBLEM_TYPE_BASE = 'https://tideway.dev/problems/';

/** An RFC 9457 problem details object. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly instance?: string;
  readonly [extension: string]: unknown;
}

const TITLES: Record<string, string> = {
  [ErrorCode.InvalidEvent]: 'Invalid event',
  [ErrorCode.InvalidBody]: 'Malformed request body',
  [ErrorCode.EmptyBatch]: 'Empty batch',
  [ErrorCode.BodyTooLarge]: 'Request body too large',
  [ErrorCode.BatchTooLarge]: 'Too many events in one request',
  [ErrorCode.UnsupportedMediaType]: 'Unsupported media type',
  [ErrorCode.InvalidQuery]: 'Invalid query',
  [ErrorCode.NotFound]: 'Not found',
  [ErrorCode.TenantMismatch]: 'Tenant mismatch',
  [ErrorCode.StoreUnavailable]: 'Store unavailable',
  [ErrorCode.PublishFailed]: 'Event log unavailable',
  [ErrorCode.Internal]: 'Internal error',
};

/** The problem details of a TidewayError. */
export function problemOf(error: TidewayError, instance?: string): ProblemDetails {
  const { retryAfterSeconds: _retry, ...extensions } = error.details;
  return {
    type: PROBLEM_TYPE_BASE + error.code,
    title: TITLES[error.code] ?? error.code.replaceAll('-', ' '),
    status: error.status,
    detail: error.message,
    ...(instance ? { instance } : {}),
    code: error.code,
    ...extensions,
  };
}

/** Writes a problem+json response, with `Retry-After` when the error carries one. */
export function problemResponse(c: Context, error: unknown): Response {
  if (isTidewayError(error)) {
    const body = problemOf(error, c.req.path);
    const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
    if (error.details.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.details.retryAfterSeconds);
    return new Response(JSON.stringify(body), { status: error.status, headers });
  }
  const body: ProblemDetails = {
    type: PROBLEM_TYPE_BASE + ErrorCode.Internal,
    title: 'Internal error',
    status: 500,
    instance: c.req.path,
    code: ErrorCode.Internal,
  };
  return new Response(JSON.stringify(body), { status: 500, headers: { 'content-type': 'application/problem+json' } });
}
