import type { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ErrorCode, TidewayError } from '@tideway/events';
import { Counter, Histogram, type Registry } from '@tideway/service';
import type { EventIngestor } from './ingestor.ts';

export interface IngestRoutesOptions {
  readonly ingestor: EventIngestor;
  readonly metrics: Registry;
  readonly maxBodyBytes: number;
  readonly defaultTenant: string;
}

const JSON_TYPES = new Set(['application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json']);

/** Mounts `POST /v1/events` on a service app. */
export function mountIngestRoutes(app: Hono, options: IngestRoutesOptions): Hono {
  const accepted = new Counter({
    name: 'tideway_ingest_events_total',
    help: 'Events acknowledged by JetStream, by outcome (created or duplicate)',
    labelNames: ['outcome'],
    registers: [options.metrics],
  });
  const rejected = new Counter({
    name: 'tideway_ingest_rejected_requests_total',
    help: 'Requests refused, by problem code',
    labelNames: ['code'],
    registers: [options.metrics],
  });
  const batchSize = new Histogram({
    name: 'tideway_ingest_batch_size',
    help: 'Events per accepted request',
    buckets: [1, 10, 100, 500, 1000, 5000],
    registers: [options.metrics],
  });

  app.post(
    '/v1/events',
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: () => {
        throw new TidewayError(ErrorCode.BodyTooLarge, `request bodies are limited to ${options.maxBodyBytes} bytes`);
      },
    }),
    async (c) => {
      try {
        const mediaType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
        if (!JSON_TYPES.has(mediaType)) {
          throw new TidewayError(ErrorCode.UnsupportedMediaType, `content-type must be one of ${[...JSON_TYPES].join(', ')}`);
        }
        const text = await c.req.text();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (cause) {
          throw new TidewayError(ErrorCode.InvalidBody, `body is not valid JSON: ${(cause as Error).message}`, {}, { cause });
        }
        if (body === null || typeof body !== 'object') {
          throw new TidewayError(ErrorCode.InvalidBody, 'body must be an event object or an array of events');
        }
        const items = Array.isArray(body) ? body : [body];
        const envelopes = options.ingestor.prepare(items, options.defaultTenant);
        const result = await options.ingestor.publish(envelopes);
        accepted.inc({ outcome: 'created' }, result.created);
        accepted.inc({ outcome: 'duplicate' }, result.duplicates);
        batchSize.observe(result.accepted);
        return c.json(result, 202);
      } catch (error) {
        if (error instanceof TidewayError) rejected.inc({ code: error.code });
        throw error;
      }
    },
  );
  return app;
}
