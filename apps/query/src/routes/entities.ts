import { createRoute, z } from '@hono/zod-openapi';
import { ErrorCode, TidewayError } from '@tideway/events';
import { cacheControl, consistentRead, tagJson, tenantOf } from '../context.ts';
import type { QueryDeps } from '../deps.ts';
import { checkRange, commonQuery, createApi, limitParam, problem, problemResponses, rfc3339, seqHeaders } from '../openapi.ts';
import { EventPageSchema } from './events.ts';

const EntityParams = z.object({
  type: z.string().min(1).max(200).openapi({ description: 'Entity type, e.g. device or customer', example: 'device' }),
  id: z.string().min(1).max(512).openapi({ description: 'Entity id within the tenant', example: 'sensor-001' }),
});

const EntitySchema = z
  .object({
    type: z.string(),
    id: z.string(),
    state: z.record(z.string(), z.unknown()).describe('Latest state, folded by the entity reducers'),
    source: z.enum(['hot', 'warm']).describe('The tier that answered'),
    last_seq: z.number().int().nullable().describe('Stream sequence of the last event folded in, when known'),
  })
  .openapi('Entity');

/** Entity state (hot first, warm fallback) and entity history. */
export function entityRoutes(deps: QueryDeps) {
  const { config } = deps;
  const api = createApi();

  const getRoute = createRoute({
    method: 'get',
    path: '/v1/entities/{type}/{id}',
    operationId: 'getEntity',
    tags: ['entities'],
    summary: 'Current state of an entity',
    description: 'From the hot store (Redis) when it holds the entity, else from the warm store (evicted or never hot).',
    request: { params: EntityParams, query: z.object({ ...commonQuery }).strict() },
    responses: {
      200: { description: 'The entity', headers: seqHeaders, content: { 'application/json': { schema: EntitySchema } } },
      404: problem('No such entity'),
      ...problemResponses,
    },
  });

  api.openapi(getRoute, async (c) => {
    const { type, id } = c.req.valid('param');
    const q = c.req.valid('query');
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    c.header('Cache-Control', 'private, no-cache');
    if (deps.hot && deps.clocks.hot) {
      try {
        // The hot store answers only when it has applied min_seq already; otherwise the warm store (which waits).
        const position = await deps.clocks.hot();
        if (q.min_seq === undefined || position.seq >= q.min_seq) {
          const state = await deps.hot.getEntity(tenant, type, id);
          if (state) {
            const lastSeq = typeof state['last_seq'] === 'number' ? state['last_seq'] : null;
            c.header('Tideway-Seq', String(position.seq));
            const body = { type, id, state: state, source: 'hot' as const, last_seq: lastSeq };
            tagJson(c, body);
            return c.json(body, 200);
          }
        }
      } catch {
        // A hot store that is down is no reason to fail: the warm store answers.
      }
    }
    await consistentRead(c, deps.clocks.warm, q.min_seq, config.QUERY_MIN_SEQ_WAIT_MS);
    const [row] = await deps.warm.sql<{ state: Record<string, unknown>; last_seq: string }[]>`
      select state, last_seq from entity_state where tenant = ${tenant} and entity_type = ${type} and entity_id = ${id}`;
    if (!row) throw new TidewayError(ErrorCode.NotFound, `no entity ${type}/${id}`);
    const body = { type, id, state: row.state, source: 'warm' as const, last_seq: Number(row.last_seq) };
    tagJson(c, body);
    return c.json(body, 200);
  });

  const historyRoute = createRoute({
    method: 'get',
    path: '/v1/entities/{type}/{id}/history',
    operationId: 'getEntityHistory',
    tags: ['entities'],
    summary: 'Events of an entity',
    description: 'The events folded into the entity, by event time, with cursors both ways (warm store).',
    request: {
      params: EntityParams,
      query: z
        .object({
          ...commonQuery,
          from: rfc3339.optional(),
          to: rfc3339.optional(),
          order: z.enum(['asc', 'desc']).default('desc'),
          limit: limitParam(config.QUERY_MAX_PAGE),
          cursor: z.string().max(1024).optional(),
        })
        .strict(),
    },
    responses: {
      200: { description: 'A page of the entity’s events', headers: seqHeaders, content: { 'application/json': { schema: EventPageSchema } } },
      ...problemResponses,
    },
  });

  api.openapi(historyRoute, async (c) => {
    const { type, id } = c.req.valid('param');
    const q = c.req.valid('query');
    checkRange(q.from, q.to, config.QUERY_MAX_RANGE_DAYS);
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const position = await consistentRead(c, deps.clocks.warm, q.min_seq, config.QUERY_MIN_SEQ_WAIT_MS);
    const page = await deps.search.page(
      { tenant, entity: { type, id }, ...(q.from === undefined ? {} : { from: q.from }), ...(q.to === undefined ? {} : { to: q.to }) },
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

  return api;
}
