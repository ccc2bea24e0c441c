import type { Context, MiddlewareHandler } from 'hono';
import type { AuditLog, AuthEnv, ApiKeyStore, RedisRateLimiter } from '@tideway/auth';
import { ErrorCode, TidewayError } from '@tideway/events';
import type { JetStreamPublisher } from '@tideway/nats';
import type { EventValidator, WebhookRegistry } from '@tideway/producers';
import type { SchemaRegistry } from '@tideway/schemas';
import { Counter, Histogram, type Logger, type Registry } from '@tideway/service';
import type { IngestConfig } from './config.ts';
import type { IngestPipeline } from './pipeline.ts';
import type { QuarantineStore } from './quarantine.ts';

/** The gateway's Prometheus metrics. */
export class GatewayMetrics {
  readonly events: Counter<'outcome' | 'channel'>;
  readonly rejected: Counter<'code'>;
  readonly batchSize: Histogram;
  readonly webhookRefusals: Counter<'source' | 'code'>;
  readonly rateLimited: Counter;
  readonly overloaded: Counter<'cause'>;
  readonly rateLimiterErrors: Counter;
  readonly auditDropped: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.events = new Counter({
      name: 'tideway_ingest_events_total',
      help: 'Items stored, by outcome (created, duplicate, quarantined) and channel',
      labelNames: ['outcome', 'channel'],
      registers,
    });
    this.rejected = new Counter({
      name: 'tideway_ingest_rejected_requests_total',
      help: 'Requests refused, by problem code',
      labelNames: ['code'],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'tideway_ingest_batch_size',
      help: 'Items per accepted request',
      buckets: [1, 10, 100, 500, 1000, 5000, 20_000, 100_000],
      registers,
    });
    this.webhookRefusals = new Counter({
      name: 'tideway_ingest_webhook_refusals_total',
      help: 'Webhook deliveries refused (unknown source, missing or bad signature, stale timestamp)',
      labelNames: ['source', 'code'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'tideway_ingest_rate_limited_total',
      help: 'Requests refused by the per-key rate limit',
      registers,
    });
    this.overloaded = new Counter({
      name: 'tideway_ingest_overload_refusals_total',
      help: 'Requests refused because the gateway or the event log was saturated or down',
      labelNames: ['cause'],
      registers,
    });
    this.rateLimiterErrors = new Counter({
      name: 'tideway_ingest_rate_limiter_errors_total',
      help: 'Rate-limit checks that failed (Redis unavailable); such requests are let through',
      registers,
    });
    this.auditDropped = new Counter({
      name: 'tideway_audit_dropped_total',
      help: 'Audit records dropped because the write queue was full',
      registers,
    });
  }

  /** Counts the outcomes of stored items. */
  count(channel: string, result: { created: number; duplicates: number; quarantined: number }): void {
    if (result.created > 0) this.events.inc({ outcome: 'created', channel }, result.created);
    if (result.duplicates > 0) this.events.inc({ outcome: 'duplicate', channel }, result.duplicates);
    if (result.quarantined > 0) this.events.inc({ outcome: 'quarantined', channel }, result.quarantined);
  }
}

/** Everything the routes need. */
export interface Gateway {
  readonly config: IngestConfig;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly pipeline: IngestPipeline;
  readonly validator: EventValidator;
  readonly registry: SchemaRegistry;
  readonly quarantine: QuarantineStore;
  readonly keys: ApiKeyStore;
  readonly audit: AuditLog;
  readonly webhooks: WebhookRegistry;
  /** Tenant of each webhook source. */
  readonly webhookTenants: ReadonlyMap<string, string>;
  readonly publisher: JetStreamPublisher;
  readonly limiter?: RedisRateLimiter;
  readonly natsConnected: () => boolean;
  readonly admission: AdmissionGate;
}

/**
 * Bounds the request bodies held at once across requests: a request reserves its size before its body is read and
 * is refused with 503 `overloaded` when the budget is spent, so memory stays bounded under overload.
 */
export class AdmissionGate {
  private used = 0;
  constructor(private readonly budget: number) {}
  get inUse(): number {
    return this.used;
  }
  tryAcquire(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.budget) return false;
    this.used += bytes;
    return true;
  }
  release(bytes: number): void {
    this.used -= bytes;
  }
}

/** Counts every refused request by its problem code. */
export function countRefusals(gateway: Gateway): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.error instanceof TidewayError) gateway.metrics.rejected.inc({ code: c.error.code });
    else if (c.res.status >= 400 && c.res.headers.get('content-type')?.includes('problem+json')) {
      gateway.metrics.rejected.inc({ code: String(c.res.status) });
    }
  };
}

/** The per-key rate limit: 429 `rate-limited` with `Retry-After` when a key's bucket is empty. */
export function rateLimit(gateway: Gateway): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const principal = c.var.principal;
    if (gateway.limiter !== undefined && !principal.anonymous) {
      let decision;
      try {
        decision = await gateway.limiter.take(principal.keyId);
      } catch (error) {
        // Redis is down: ingestion matters more than the limit.
        gateway.metrics.rateLimiterErrors.inc();
        gateway.logger.warn({ err: error }, 'rate limiter unavailable; request let through');
      }
      if (decision && !decision.allowed) {
        gateway.metrics.rateLimited.inc();
        throw new TidewayError(
          ErrorCode.RateLimited,
          `this key is over its rate limit; retry in ${decision.retryAfterSeconds} s`,
          {
            retryAfterSeconds: decision.retryAfterSeconds,
          },
        );
      }
    }
    await next();
  };
}

/**
 * Backpressure before a body is read: 503 when the event log is down (`publish-failed`) or the gateway is saturated
 * (`overloaded`: too many publishes queued, or too many body bytes held), each with `Retry-After`. `reserve` is how
 * many bytes of the body the route will hold at once.
 */
export function admit(gateway: Gateway, reserve: (c: Context) => number): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    if (!gateway.natsConnected()) {
      gateway.metrics.overloaded.inc({ cause: 'nats-down' });
      throw new TidewayError(ErrorCode.PublishFailed, 'the event log (NATS) is not reachable; nothing was stored', {
        retryAfterSeconds: 2,
      });
    }
    if (gateway.publisher.pending > gateway.config.INGEST_MAX_QUEUED_PUBLISHES) {
      gateway.metrics.overloaded.inc({ cause: 'publishes' });
      throw new TidewayError(
        ErrorCode.Overloaded,
        'the gateway has too many events waiting for the event log; retry shortly',
        { retryAfterSeconds: 1 },
      );
    }
    const bytes = reserve(c);
    if (!gateway.admission.tryAcquire(bytes)) {
      gateway.metrics.overloaded.inc({ cause: 'memory' });
      throw new TidewayError(ErrorCode.Overloaded, 'the gateway holds too many request bodies; retry shortly', {
        retryAfterSeconds: 1,
      });
    }
    try {
      await next();
    } finally {
      gateway.admission.release(bytes);
    }
  };
}

/** The declared body length, or `fallback` when the body is streamed without one. */
export function declaredLength(c: Context, fallback: number): number {
  const length = Number(c.req.header('content-length'));
  return Number.isFinite(length) && length >= 0 ? length : fallback;
}

/**
 * A request body as bytes, refused with 413 beyond `limit` whether or not it declared its length.
 *
 * A body with a declared `Content-Length` (within the limit) is read with `arrayBuffer()`: @hono/node-server reads
 * it straight from the Node request, while touching `.body` makes it build a web `Request` and a web stream over
 * the Node stream first (undici's `Request`, an `AbortController`, `Readable.toWeb`) — per request, a cost the
 * size of validating several events. Node's HTTP parser ends such a body at its declared length, so the limit
 * checked above holds. Bodies without a length (chunked) are read as a stream and counted as they arrive.
 */
export async function readBody(c: Context, limit: number): Promise<Uint8Array> {
  const declared = declaredLength(c, -1);
  if (declared > limit) throw new TidewayError(ErrorCode.BodyTooLarge, `request bodies are limited to ${limit} bytes`);
  if (declared >= 0) return Buffer.from(await c.req.raw.arrayBuffer());
  const body = c.req.raw.body;
  if (body === null) return new Uint8Array(0);
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new TidewayError(ErrorCode.BodyTooLarge, `request bodies are limited to ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The media type of a request, lower-case, without parameters. */
export function mediaType(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}
