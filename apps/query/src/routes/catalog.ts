import { createRoute, z } from '@hono/zod-openapi';
import { ErrorCode, TidewayError } from '@tideway/events';
import { projectionCheckpoints, storedEventTypes } from '@tideway/event-query';
import { consistentRead, tenantOf } from '../context.ts';
import type { QueryDeps } from '../deps.ts';
import { commonQuery, createApi, problem, problemResponses, seqHeaders } from '../openapi.ts';

const SchemaVersionSchema = z
  .object({
    version: z.number().int(),
    id: z.string().describe('The `dataschema` URI that pins this version'),
    description: z.string().optional(),
    schema: z.record(z.string(), z.unknown()).describe('JSON Schema (draft 2020-12) of the payload'),
  })
  .openapi('SchemaVersion');

const EventTypeSummarySchema = z
  .object({
    type: z.string(),
    registered: z.boolean().describe('Has a registered payload schema'),
    latest_version: z.number().int().nullable(),
    versions: z.array(z.number().int()),
    stored: z.boolean().describe('The tenant has events of this type in the warm store'),
  })
  .openapi('EventTypeSummary');

const ProjectionSchema = z
  .object({
    projection: z.string(),
    stream: z.string().describe('The stream it consumes'),
    checkpoint: z.number().int().describe('Last stream sequence committed'),
    stream_last_seq: z.number().int().nullable().describe('The stream’s last sequence (null when unknown)'),
    lag: z.number().int().nullable().describe('Messages not yet applied'),
    updated_at: z.string().nullable(),
  })
  .openapi('Projection');

/** Projections that consume a stream other than EVENTS. */
const PROJECTION_STREAMS: Readonly<Record<string, string>> = { 'warm-derived': 'DERIVED', 'hot-derived': 'DERIVED' };

/** Event types, their schemas and versions; projections and their lag. */
export function catalogRoutes(deps: QueryDeps) {
  const { config } = deps;
  const api = createApi();

  const typesRoute = createRoute({
    method: 'get',
    path: '/v1/catalog/event-types',
    operationId: 'listEventTypes',
    tags: ['catalog'],
    summary: 'Event types',
    description: 'Types with a registered payload schema (the gateway’s schema registry) and types the tenant has stored.',
    request: { query: z.object({ ...commonQuery }).strict() },
    responses: {
      200: { description: 'Event types', headers: seqHeaders, content: { 'application/json': { schema: z.object({ items: z.array(EventTypeSummarySchema) }) } } },
      ...problemResponses,
    },
  });

  api.openapi(typesRoute, async (c) => {
    const q = c.req.valid('query');
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    await consistentRead(c, deps.clocks.warm, q.min_seq, config.QUERY_MIN_SEQ_WAIT_MS);
    const stored = new Set(await storedEventTypes(deps.warm, tenant));
    const types = [...new Set([...deps.registry.types(), ...stored])].sort();
    c.header('Cache-Control', 'private, no-cache');
    return c.json(
      {
        items: types.map((type) => {
          const versions = deps.registry.versions(type).map((v) => v.version);
          return { type, registered: versions.length > 0, latest_version: versions.at(-1) ?? null, versions, stored: stored.has(type) };
        }),
      },
      200,
    );
  });

  const typeRoute = createRoute({
    method: 'get',
    path: '/v1/catalog/event-types/{type}',
    operationId: 'getEventType',
    tags: ['catalog'],
    summary: 'One event type with every schema version',
    request: { params: z.object({ type: z.string().min(1).max(200) }), query: z.object({ tenant: commonQuery.tenant }).strict() },
    responses: {
      200: {
        description: 'The type',
        content: { 'application/json': { schema: z.object({ type: z.string(), latest_version: z.number().int(), versions: z.array(SchemaVersionSchema) }).openapi('EventTypeSchemas') } },
      },
      404: problem('No schema is registered for this type'),
      ...problemResponses,
    },
  });

  api.openapi(typeRoute, (c) => {
    const { type } = c.req.valid('param');
    tenantOf(c, c.req.valid('query').tenant, config.QUERY_DEFAULT_TENANT);
    const described = deps.registry.describeType(type);
    if (!described) throw new TidewayError(ErrorCode.NotFound, `no schema is registered for ${type}`);
    c.header('Cache-Control', 'private, max-age=60');
    return c.json(
      {
        type: described.type,
        latest_version: described.latest,
        versions: described.versions.map((v) => ({
          version: v.version,
          id: v.id,
          ...(v.description === undefined ? {} : { description: v.description }),
          schema: v.schema as Record<string, unknown>,
        })),
      },
      200,
    );
  });

  const projectionsRoute = createRoute({
    method: 'get',
    path: '/v1/catalog/projections',
    operationId: 'listProjections',
    tags: ['catalog'],
    summary: 'Projections and their lag',
    description: 'Each projection’s checkpoint against its stream’s last sequence.',
    request: { query: z.object({ tenant: commonQuery.tenant }).strict() },
    responses: {
      200: { description: 'Projections', content: { 'application/json': { schema: z.object({ items: z.array(ProjectionSchema) }) } } },
      ...problemResponses,
    },
  });

  api.openapi(projectionsRoute, async (c) => {
    tenantOf(c, c.req.valid('query').tenant, config.QUERY_DEFAULT_TENANT);
    const checkpoints = await projectionCheckpoints(deps.warm);
    const hot = deps.clocks.hot ? await deps.clocks.hot().catch(() => undefined) : undefined;
    const rows = [...checkpoints.map((cp) => ({ projection: cp.projection, seq: cp.seq, updatedAt: cp.updatedAt })), ...(hot ? [{ ...hot }] : [])];
    const lastSeqs = new Map<string, number | undefined>();
    const lastOf = async (stream: string): Promise<number | undefined> => {
      if (!lastSeqs.has(stream)) {
        lastSeqs.set(stream, deps.live?.connected() ? await (stream === 'EVENTS' ? deps.live.lastSeq() : deps.live.lastSeqOf(stream)).catch(() => undefined) : undefined);
      }
      return lastSeqs.get(stream);
    };
    const items = [];
    for (const r of rows) {
      const stream = PROJECTION_STREAMS[r.projection] ?? 'EVENTS';
      const last = await lastOf(stream);
      items.push({
        projection: r.projection,
        stream,
        checkpoint: r.seq,
        stream_last_seq: last ?? null,
        lag: last === undefined ? null : Math.max(0, last - r.seq),
        updated_at: r.updatedAt ?? null,
      });
    }
    c.header('Cache-Control', 'no-store');
    return c.json({ items }, 200);
  });

  return api;
}
