import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { ErrorCode, TidewayError } from '@tideway/events';

/** The caller as the auth middleware (`@tideway/auth`) leaves it in `c.var.principal`, when installed. */
interface PrincipalLike {
  readonly tenant: string;
  readonly anonymous?: boolean;
}

/**
 * The tenant a request reads — the one place routes take it from. With an API key (`c.var.principal`, set by the
 * auth middleware) it is the key's tenant, and naming another one is 403 `tenant-mismatch`; without one, the
 * `tenant` parameter or the service default.
 */
export function tenantOf(c: Context, requested: string | undefined, defaultTenant: string): string {
  const principal = (c.get as (key: string) => unknown)('principal') as PrincipalLike | undefined;
  if (principal && !principal.anonymous) {
    if (requested !== undefined && requested !== principal.tenant) {
      throw new TidewayError(ErrorCode.TenantMismatch, `this key belongs to tenant "${principal.tenant}", not "${requested}"`);
    }
    return principal.tenant;
  }
  return requested ?? principal?.tenant ?? defaultTenant;
}

/** Where a projection stands: its checkpoint and when it last committed. */
export interface ProjectionPosition {
  readonly projection: string;
  readonly seq: number;
  /** RFC 3339; absent when the store does not record it. */
  readonly updatedAt?: string;
}

/** Reads a projection's position (the warm store's `projection_checkpoints`, the hot store's checkpoint key…). */
export type ProjectionClock = () => Promise<ProjectionPosition>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Read-your-writes: resolves with the projection's position once it has applied `minSeq` (at once without one),
 * polling its checkpoint; after `waitMs` it fails with 503 and the current lag. The caller reports the position
 * as `Tideway-Seq`: the data it then reads reflects at least that sequence.
 */
export async function positionAtLeast(clock: ProjectionClock, minSeq: number | undefined, waitMs: number, signal?: AbortSignal): Promise<ProjectionPosition> {
  const deadline = Date.now() + waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const position = await clock();
    if (minSeq === undefined || position.seq >= minSeq) return position;
    if (Date.now() >= deadline || signal?.aborted) {
      throw new TidewayError(
        ErrorCode.StoreUnavailable,
        `projection ${position.projection} has applied up to sequence ${position.seq}, not yet min_seq ${minSeq}; retry shortly`,
        { retryAfterSeconds: 1, reason: 'projection-behind', projection: position.projection, applied_seq: position.seq, min_seq: minSeq, lag: minSeq - position.seq },
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
  }
}

/** Sets `Tideway-Seq` and returns the position. */
export async function consistentRead(
  c: Context,
  clock: ProjectionClock,
  minSeq: number | undefined,
  waitMs: number,
): Promise<ProjectionPosition> {
  const position = await positionAtLeast(clock, minSeq, waitMs, c.req.raw.signal);
  c.header('Tideway-Seq', String(position.seq));
  return position;
}

/**
 * `Cache-Control` for a response over `[.., to)`: a range that ended more than `settleMs` before the projection's
 * last commit will not change (late events beyond that are not expected), so it may be cached as immutable;
 * anything else must be revalidated (with its `ETag`). Private either way: answers are per tenant.
 */
export function cacheControl(c: Context, to: string | undefined, position: ProjectionPosition, settleMs: number): void {
  const settled = to !== undefined && position.updatedAt !== undefined && Date.parse(to) <= Date.parse(position.updatedAt) - settleMs;
  c.header('Cache-Control', settled ? 'private, max-age=31536000, immutable' : 'private, no-cache');
  c.header('Vary', 'Authorization, Accept-Encoding');
}

/** The SHA-1 of a response body, as the ETag middleware (`routes.ts`) tags GET answers. */
export function bodyDigest(body: Uint8Array | string): ArrayBuffer {
  const digest = createHash('sha1').update(body).digest();
  return digest.buffer.slice(digest.byteOffset, digest.byteOffset + digest.byteLength);
}

/**
 * Sets the weak ETag a JSON answer of `payload` gets from the ETag middleware, from the payload itself. The
 * middleware then keeps it (and still answers `If-None-Match` with 304) instead of cloning the response to hash
 * its body: for a small, hot read (entity state) that clone was a visible share of the latency.
 */
export function tagJson(c: Context, payload: unknown): void {
  c.header('ETag', `W/"${createHash('sha1').update(JSON.stringify(payload)).digest('hex')}"`);
}
