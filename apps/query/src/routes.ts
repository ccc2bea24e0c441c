import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { ErrorCode, TenantSchema, TidewayError, fieldIssues } from '@tideway/events';
import type { WarmEventReader } from '@tideway/warm';

const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://tideway.dev/problems/invalid-query' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: z.string(),
    issues: z.array(z.object({ pointer: z.string(), message: z.string(), index: z.number().int().optional() })).optional(),
  })
  .openapi('Problem');

const EventSchema = z.record(z.string(), z.unknown()).openapi('CloudEvent', {
  description: 'A stored event: CloudEvents 1.0 attributes plus Tideway extensions (tenant, partitionkey, recordedtime, traceparent, causationid, correlationid).',
});

const StoredEventSchema = z.object({ seq: z.number().int().describe('JetStream stream sequence'), event: EventSchema }).openapi('StoredEvent');

const rfc3339 = z.iso.datetime({ offset: true });

const ListQuery = z
  .object({
    tenant: TenantSchema.optional(),
    type: z.string().max(200).optional(),
    source: z.string().max(512).optional(),
    subject: z.string().max(512).optional(),
    from: rfc3339.optional().openapi({ description: 'Event time lower bound (inclusive, RFC 3339)' }),
    to: rfc3339.optional().openapi({ description: 'Event time upper bound (exclusive, RFC 3339)' }),
    order: z.enum(['asc', 'desc']).default('desc').openapi({ description: 'oldest first (asc) or newest first (desc)' }),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z.string().max(512).optional().openapi({ description: 'Opaque cursor from `next_cursor` of the previous page' }),
  })
  .strict();

const listRoute = createRoute({
  method: 'get',
  path: '/v1/events',
  summary: 'List events',
  description: 'Event history from the warm store, ordered by event time then stream sequence, with keyset (cursor) pagination.',
  request: { query: ListQuery },
  responses: {
    200: {
      description: 'A page of events',
      content: {
        'application/json': {
          schema: z.object({ items: z.array(StoredEventSchema), next_cursor: z.string().nullable() }).openapi('EventPage'),
        },
      },
    },
    400: { description: 'Invalid query', content: { 'application/problem+json': { schema: ProblemSchema } } },
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/v1/events/{id}',
  summary: 'Get one event by id',
  request: {
    params: z.object({ id: z.string().min(1).max(256) }),
    query: z.object({ tenant: TenantSchema.optional(), source: z.string().max(512).optional() }).strict(),
  },
  responses: {
    200: { description: 'The event', content: { 'application/json': { schema: StoredEventSchema } } },
    404: { description: 'No such event', content: { 'application/problem+json': { schema: ProblemSchema } } },
  },
});

/** The query API routes, validated and documented by the same zod schemas. */
export function queryRoutes(reader: WarmEventReader, defaultTenant: string): OpenAPIHono {
  const api = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) {
        throw new TidewayError(ErrorCode.InvalidQuery, 'the request parameters are invalid', { issues: fieldIssues(result.error) });
      }
    },
  });

  api.openapi(listRoute, async (c) => {
    const q = c.req.valid('query');
    const page = await reader.page({ ...q, tenant: q.tenant ?? defaultTenant });
    return c.json({ items: page.items.map((i) => ({ seq: i.seq, event: i.event })), next_cursor: page.nextCursor ?? null }, 200);
  });

  api.openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const row = await reader.byId(q.tenant ?? defaultTenant, id, q.source);
    if (!row) throw new TidewayError(ErrorCode.NotFound, `no event with id ${id}`);
    return c.json({ seq: row.seq, event: row.event }, 200);
  });

  api.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Tideway query API', version: '0.1.0', description: 'Read events and projections of the Tideway event log.' },
  });
  return api;
}
