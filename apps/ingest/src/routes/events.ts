import type { Context, Hono } from 'hono';
import { authenticate, type AuthEnv } from '@tideway/auth';
import { ErrorCode, TidewayError } from '@tideway/events';
import { parseCloudEventsItems, parseNdjsonEvents } from '@tideway/producers';
import { BulkIngest } from '../bulk.ts';
import { admit, declaredLength, mediaType, rateLimit, readBody, type Gateway } from '../gateway.ts';
import { refuseIfNothingAccepted, type IngestContext } from '../pipeline.ts';
import { keptHeaders } from '../quarantine.ts';

const NDJSON_TYPES = new Set([
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/jsonlines',
]);
const STREAMED_RESERVATION = 4 * 1024 * 1024;

/** The context of an ingest request. */
export function ingestContext(c: Context<AuthEnv>, channel: IngestContext['channel']): IngestContext {
  return { principal: c.var.principal, channel, receivedAt: new Date(), headers: keptHeaders(c.req.raw.headers) };
}

/**
 * `POST /v1/events`: CloudEvents in structured (`application/cloudevents+json`), batch
 * (`application/cloudevents-batch+json`) and binary (`ce-*` headers) mode, a plain JSON event or array, or an NDJSON
 * stream (`application/x-ndjson`).
 */
export function mountEventRoutes(app: Hono<AuthEnv>, gateway: Gateway): void {
  const { config } = gateway;
  app.post(
    '/v1/events',
    authenticate({
      mode: config.TIDEWAY_AUTH,
      keys: gateway.keys,
      defaultTenant: config.INGEST_DEFAULT_TENANT,
      scope: 'ingest',
    }),
    rateLimit(gateway),
    admit(gateway, (c) =>
      NDJSON_TYPES.has(mediaType(c))
        ? Math.min(declaredLength(c, STREAMED_RESERVATION), STREAMED_RESERVATION)
        : declaredLength(c, config.INGEST_MAX_BODY_BYTES),
    ),
    async (c) => {
      if (NDJSON_TYPES.has(mediaType(c))) return ingestNdjson(c, gateway);
      const body = await readBody(c, config.INGEST_MAX_BODY_BYTES);
      const ctx = ingestContext(c, 'events');
      const items = parseCloudEventsItems(
        { headers: c.req.raw.headers, body },
        { maxEvents: config.INGEST_MAX_BATCH, validate: gateway.validator },
      );
      const result = await gateway.pipeline.ingest(items, ctx);
      gateway.metrics.count('events', result);
      gateway.metrics.batchSize.observe(items.length);
      refuseIfNothingAccepted(result);
      return c.json(result, 202);
    },
  );
}

/** An NDJSON body, parsed as it streams in and published with a bounded window. */
async function ingestNdjson(c: Context<AuthEnv>, gateway: Gateway): Promise<Response> {
  const { config } = gateway;
  const limit = config.INGEST_MAX_BULK_BYTES;
  if (declaredLength(c, 0) > limit) {
    throw new TidewayError(ErrorCode.BodyTooLarge, `NDJSON bodies are limited to ${limit} bytes`);
  }
  const bulk = new BulkIngest(gateway.pipeline, ingestContext(c, 'ndjson'), config.INGEST_BULK_IN_FLIGHT);
  let bytes = 0;
  let overLimit: TidewayError | undefined;
  async function* counted(): AsyncGenerator<Uint8Array> {
    const body = c.req.raw.body;
    if (body === null) return;
    for await (const chunk of body as ReadableStream<Uint8Array>) {
      bytes += chunk.byteLength;
      if (bytes > limit) {
        overLimit = new TidewayError(ErrorCode.BodyTooLarge, `NDJSON bodies are limited to ${limit} bytes`);
        return;
      }
      yield chunk;
    }
  }
  try {
    for await (const line of parseNdjsonEvents(counted(), {
      maxLineBytes: config.INGEST_MAX_EVENT_BYTES,
      validate: gateway.validator,
    })) {
      if (bulk.items >= config.INGEST_MAX_BULK_EVENTS) {
        overLimit = new TidewayError(
          ErrorCode.BatchTooLarge,
          `NDJSON bodies are limited to ${config.INGEST_MAX_BULK_EVENTS} lines`,
        );
        break;
      }
      if ('event' in line) {
        await bulk.add({
          index: line.line,
          ok: true,
          event: line.event,
          ...(line.schemaVersion === undefined ? {} : { schemaVersion: line.schemaVersion }),
        });
      } else if (line.original === undefined) {
        bulk.skip(line.line, line.reason, line.issues);
      } else {
        await bulk.add({
          index: line.line,
          ok: false,
          issues: line.issues,
          original: line.original,
          reason: line.reason,
          ...(line.schemaVersion === undefined ? {} : { schemaVersion: line.schemaVersion }),
        });
      }
    }
  } catch (error) {
    await bulk.settle();
    throw error;
  }
  if (overLimit !== undefined) {
    const stored = await bulk.settle();
    throw new TidewayError(
      overLimit.code,
      `${overLimit.message}; the ${stored.items} items read before the limit were processed (see counts)`,
      {
        ...overLimit.details,
        ...stored,
      },
    );
  }
  const result = await bulk.finish();
  if (result.items === 0) throw new TidewayError(ErrorCode.EmptyBatch, 'the NDJSON body holds no events');
  gateway.metrics.count('ndjson', result);
  gateway.metrics.batchSize.observe(result.items);
  if (result.accepted === 0 && result.quarantined > 0) {
    throw new TidewayError(
      ErrorCode.EventsQuarantined,
      `all ${result.quarantined} events are invalid and were quarantined`,
      { ...result },
    );
  }
  return c.json(result, 202);
}
