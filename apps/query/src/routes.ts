import type { OpenAPIHono } from '@hono/zod-openapi';
import { etag } from 'hono/etag';
import { ErrorCode, TidewayError, type SubjectScheme } from '@tideway/events';
import { problemResponse } from '@tideway/service';
import { bodyDigest } from './context.ts';
import { storeProblem } from './errors.ts';
import type { QueryDeps } from './deps.ts';
import { createApi } from './openapi.ts';
import { analyticsRoutes } from './routes/analytics.ts';
import { catalogRoutes } from './routes/catalog.ts';
import { entityRoutes } from './routes/entities.ts';
import { eventRoutes } from './routes/events.ts';
import { exportRoutes } from './routes/exports.ts';
import { streamRoutes, type LiveTailOptions } from './routes/stream.ts';

export const API_VERSION = '0.2.0';

/**
 * Every route of the query API, validated and documented by the same zod schemas, plus `/openapi.json`.
 * JSON responses carry a weak `ETag` (304 on `If-None-Match`); streams and exports do not (they are not buffered).
 */
export function queryRoutes(deps: QueryDeps, scheme: SubjectScheme, live: LiveTailOptions): { api: OpenAPIHono; liveClients: () => number } {
  const api = createApi();
  // Store errors become problems here; anything unexpected goes on to the service's handler (logged, 500).
  api.onError((error, c) => {
    const mapped = storeProblem(error);
    if (mapped instanceof TidewayError) return problemResponse(c, mapped);
    throw error;
  });
  // PostgreSQL text cannot hold NUL: refuse it in any parameter up front rather than fail in the store.
  api.use('/v1/*', async (c, next) => {
    if (/%00/.test(c.req.url) || (c.req.header('last-event-id') ?? '').includes(String.fromCharCode(0))) {
      throw new TidewayError(ErrorCode.InvalidQuery, 'parameters must not contain NUL characters', { issues: [{ pointer: '/', message: 'NUL (%00) is not allowed' }] });
    }
    await next();
  });
  // SHA-1 of the body (as Hono's default), hashed in this thread: WebCrypto's digest runs on the libuv pool, and
  // its round trip through another thread was a visible share of a small read's latency (docs/benchmarks.md).
  const tagged = etag({
    weak: true,
    retainedHeaders: ['cache-control', 'etag', 'vary', 'tideway-seq', 'date', 'expires', 'content-location'],
    generateDigest: bodyDigest,
  });
  for (const path of ['/v1/events', '/v1/events/*', '/v1/entities/*', '/v1/aggregates', '/v1/aggregates/*', '/v1/anomalies', '/v1/alerts', '/v1/catalog/*']) {
    api.use(path, async (c, next) => (c.req.method === 'GET' ? tagged(c as Parameters<typeof tagged>[0], next) : next()));
  }
  const stream = streamRoutes(deps, scheme, deps.live, live);
  api.route('/', eventRoutes(deps));
  api.route('/', stream.api);
  api.route('/', entityRoutes(deps));
  api.route('/', analyticsRoutes(deps));
  api.route('/', exportRoutes(deps));
  api.route('/', catalogRoutes(deps));
  api.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Tideway query API',
      version: API_VERSION,
      description:
        'Read events, entities, aggregates, anomalies and alerts of the Tideway event log, tail it live and export it. Every data response carries `Tideway-Seq`: the stream sequence its data reflects; pass `min_seq` to read your own writes. Errors are RFC 9457 problem+json.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'events', description: 'Event history, lookup and live tail' },
      { name: 'entities', description: 'Entity state and history' },
      { name: 'aggregates', description: 'Ad-hoc aggregation and window results' },
      { name: 'anomalies and alerts' },
      { name: 'exports', description: 'Bulk downloads' },
      { name: 'catalog', description: 'Event types, schemas and projections' },
    ],
    security: [{ apiKey: [] }, {}],
  });
  api.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key with the `query` scope (`Authorization: Bearer <key>`), when the service requires keys',
  });
  return { api, liveClients: stream.clients };
}
