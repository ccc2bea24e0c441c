import { createRoute, z } from '@hono/zod-openapi';
import { ErrorCode, EventTypeSchema, TidewayError } from '@tideway/events';
import { PAYLOAD_FIELD_PATTERN, PREDICATE_OPERATORS, isPredicateParameter, parsePredicates, type EventSearchFilter } from '@tideway/event-query';
import { cacheControl, consistentRead, tenantOf } from '../context.ts';
import type { QueryDeps } from '../deps.ts';
import { checkRange, commonQuery, createApi, limitParam, problem, problemResponses, rfc3339, seqHeaders } from '../openapi.ts';

export const EventSchema = z.record(z.string(), z.unknown()).openapi('CloudEvent', {
  description:
    'A stored event: CloudEvents 1.0 attributes plus Tideway extensions (tenant, partitionkey, recordedtime, traceparent, causationid, correlationid).',
});

export const StoredEventSchema = z
  .object({ seq: z.number().int().describe('JetStream stream sequence'), event: EventSchema })
  .openapi('StoredEvent');

export const EventPageSchema = z
  .object({
    items: z.array(StoredEventSchema),
    next_cursor: z.string().nullable().describe('Cursor of the next page in this order; null when none follows (yet)'),
    prev_cursor: z.string().nullable().describe('Cursor of the previous page; null on the first page'),
  })
  .openapi('EventPage');

/** The attribute and time filters of event listings (also used by exports and aggregations). */
export const eventFilterQuery = {
  type: EventTypeSchema.optional().openapi({ description: 'Event type, e.g. iot.sensor.reading' }),
  source: z.string().max(512).optional(),
  subject: z.string().max(512).optional(),
  from: rfc3339.optional().openapi({ description: 'Event time lower bound (inclusive, RFC 3339)' }),
  to: rfc3339.optional().openapi({ description: 'Event time upper bound (exclusive, RFC 3339)' }),
};

/** The doc-only parameter that describes `data.<field>=<op>.<value>` predicates (validated by the catch-all). */
export const predicatesParameter = {
  name: 'predicates',
  in: 'query' as const,
  required: false,
  style: 'form' as const,
  explode: true,
  description:
    `Payload predicates, one query parameter each: \`data.<field>=<op>.<value>\` with op one of ${PREDICATE_OPERATORS.join(', ')} ` +
    '(e.g. `data.sensor_id=eq.42`, `data.value=gt.100`, `data.name=like.sensor*`, `data.kind=in.(a,b)`). ' +
    'Fields are `data.` plus 1-8 dot-separated names of [A-Za-z0-9_]; all predicates must hold. Numeric operands compare numerically.',
  schema: {
    type: 'object' as const,
    propertyNames: { pattern: PAYLOAD_FIELD_PATTERN.source },
    additionalProperties: { type: 'string' as const },
  },
};

/**
 * A query object that also admits `data.*` predicate parameters (one value or repeated) and rejects every other
 * unknown parameter.
 */
export function withPredicates<T extends z.ZodRawShape>(shape: T) {
  return z
    .object(shape)
    .catchall(z.union([z.string(), z.array(z.string())]))
    .superRefine((value, ctx) => {
      for (const key of Object.keys(value)) {
        if (!(key in shape) && !isPredicateParameter(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'unknown parameter' });
      }
    });
}

/** Splits validated query parameters into the declared ones and the `data.*` predicates. */
export function predicatesOf(query: Record<string, unknown>): EventSearchFilter['predicates'] {
  const raw: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(query)) {
    if (isPredicateParameter(key)) raw[key] = value as string | string[];
  }
  return parsePredicates(raw);
}

/** Event listing and lookup routes. */
export function eventRoutes(deps: QueryDeps) {
  const { config } = deps;
  const api = createApi();
  const ListQuery = withPredicates({
    ...commonQuery,
    ...eventFilterQuery,
    order: z.enum(['asc', 'desc']).default('desc').openapi({ description: 'Oldest first (asc) or newest first (desc)' }),
    limit: limitParam(config.QUERY_MAX_PAGE),
    cursor: z.string().max(1024).optional().openapi({ description: 'Opaque cursor: `next_cursor` or `prev_cursor` of an earlier page' }),
  });

  const listRoute = createRoute({
    method: 'get',
    path: '/v1/events',
    operationId: 'listEvents',
    tags: ['events'],
    summary: 'List events',
    description:
      'Event history ordered by event time then stream sequence, with keyset cursors both ways. A range older than warm retention is read from the cold archive and merged in order, transparently.',
    request: { query: ListQuery },
    parameters: [predicatesParameter],
    responses: {
      200: { description: 'A page of events', headers: seqHeaders, content: { 'application/json': { schema: EventPageSchema } } },
      ...problemResponses,
    },
  });

  api.openapi(listRoute, async (c) => {
    const q = c.req.valid('query');
    checkRange(q.from, q.to, config.QUERY_MAX_RANGE_DAYS);
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const predicates = predicatesOf(q);
    const position = await consistentRead(c, deps.clocks.warm, q.min_seq, config.QUERY_MIN_SEQ_WAIT_MS);
    const page = await deps.search.page(
      {
        tenant,
        ...(q.type === undefined ? {} : { type: q.type }),
        ...(q.source === undefined ? {} : { source: q.source }),
        ...(q.subject === undefined ? {} : { subject: q.subject }),
        ...(q.from === undefined ? {} : { from: q.from }),
        ...(q.to === undefined ? {} : { to: q.to }),
        ...(predicates && predicates.length > 0 ? { predicates } : {}),
      },
      { order: q.order, limit: q.limit, ...(q.cursor === undefined ? {} : { cursor: q.cursor }) },
    );
    cacheControl(c, q.to, position, config.QUERY_SETTLE_MS);
    return c.json(
      {
        items: page.items.map((i) => ({ seq: i.seq, event: i.event })),
        next_cursor: page.nextCursor ?? null,
        prev_cursor: page.prevCursor ?? null,
      },
      200,
    );
  });

  const getRoute = createRoute({
    method: 'get',
    path: '/v1/events/{id}',
    operationId: 'getEvent',
    tags: ['events'],
    summary: 'Get one event by id',
    request: {
      params: z.object({ id: z.string().min(1).max(256) }),
      query: z.object({ ...commonQuery, source: z.string().max(512).optional() }).strict(),
    },
    responses: {
      200: { description: 'The event', headers: seqHeaders, content: { 'application/json': { schema: StoredEventSchema } } },
      404: problem('No such event'),
      ...problemResponses,
    },
  });

  api.openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    await consistentRead(c, deps.clocks.warm, q.min_seq, config.QUERY_MIN_SEQ_WAIT_MS);
    const row = await deps.search.byId(tenant, id, q.source);
    if (!row) throw new TidewayError(ErrorCode.NotFound, `no event with id ${id}`);
    c.header('Cache-Control', 'private, no-cache');
    return c.json({ seq: row.seq, event: row.event }, 200);
  });

  return api;
}
