import { createRoute, z } from '@hono/zod-openapi';
import { alertAcknowledgementEvent } from '@tideway/analytics';
import { ErrorCode, TidewayError } from '@tideway/events';
import { AGGREGATE_FUNCTION_PATTERN, BUCKET_PATTERN, GROUP_ATTRIBUTES, PAYLOAD_FIELD_PATTERN, aggregateEvents, bucketSeconds } from '@tideway/event-query';
import { cacheControl, consistentRead, tenantOf } from '../context.ts';
import type { QueryDeps } from '../deps.ts';
import { checkRange, commonQuery, createApi, limitParam, problem, problemResponses, rfc3339, seqHeaders } from '../openapi.ts';
import { eventFilterQuery, predicatesOf, predicatesParameter, withPredicates } from './events.ts';

const csv = (pattern: RegExp, what: string) =>
  z
    .string()
    .max(512)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(pattern, `not a ${what}`)).max(12))
    .openapi({ type: 'string' });

const AggregatePageSchema = z
  .object({
    bucket: z.string().describe('Bucket width'),
    group_by: z.array(z.string()),
    fn: z.array(z.string()),
    value: z.string().nullable(),
    rows: z.array(
      z.object({
        bucket: z.string().describe('Bucket start (RFC 3339, buckets aligned to the Unix epoch)'),
        group: z.record(z.string(), z.string().nullable()),
        values: z.record(z.string(), z.number().nullable()),
      }),
    ),
    truncated: z.boolean().describe('More rows matched than the service returns at most'),
  })
  .openapi('AggregateResult');

const WindowResultSchema = z
  .object({
    pipeline: z.string(),
    stage: z.string().describe('The pipeline stage (window) that produced it'),
    key: z.string(),
    window_start: z.string(),
    window_end: z.string(),
    aggregate: z.string().describe('The aggregate’s name (stats, count…)'),
    value: z.unknown().describe('The aggregate’s result'),
    count: z.number().int().describe('Events aggregated'),
    final: z.boolean(),
    provisional: z.boolean().describe('A preview of a window still open'),
    update_count: z.number().int().describe('Late events incorporated after the first result'),
    trigger: z.string(),
    event_id: z.string(),
    seq: z.number().int().describe('Sequence of the derived event (DERIVED stream)'),
  })
  .openapi('WindowResult');

const signalFields = {
  id: z.string(),
  pipeline: z.string(),
  stage: z.string(),
  key: z.string(),
  value: z.number(),
  score: z.number().describe('Anomaly score in [0, 1]'),
  threshold: z.number(),
  seq: z.number().int().describe('Sequence of the derived event (DERIVED stream)'),
};
const AnomalySchema = z
  .object({ ...signalFields, components: z.record(z.string(), z.number()), event_time: z.string(), input: z.unknown() })
  .openapi('Anomaly');
const AlertSchema = z
  .object({
    ...signalFields,
    at: z.string(),
    summary: z.string(),
    anomaly_id: z.string(),
    suppressed_before: z.number().int(),
    status: z.enum(['open', 'acknowledged']),
    acknowledged_at: z.string().nullable(),
    acknowledged_by: z.string().nullable(),
    note: z.string().nullable(),
  })
  .openapi('Alert');

const AcknowledgementResultSchema = z
  .object({
    alert_id: z.string(),
    event_id: z.string().describe('Id of the tideway.alert.acknowledged event'),
    seq: z.number().int().describe('EVENTS stream sequence of the acknowledgement'),
    duplicate: z.boolean().describe('The alert had been acknowledged before: the first acknowledgement stands'),
    alert: AlertSchema.nullable().describe('The alert as the warm store shows it once the acknowledgement is applied; null if that took too long'),
  })
  .openapi('AcknowledgementResult');

const page = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable() }).openapi(name);

/** Ad-hoc aggregates, window results, anomalies and alerts. */
export function analyticsRoutes(deps: QueryDeps) {
  const { config } = deps;
  const api = createApi();
  // Window results, anomalies and alerts are projections of the DERIVED stream: min_seq and Tideway-Seq refer to it.
  const derivedRead = (c: Parameters<typeof consistentRead>[0], minSeq: number | undefined) =>
    consistentRead(c, deps.clocks.derived, minSeq, config.QUERY_MIN_SEQ_WAIT_MS);

  const aggregateRoute = createRoute({
    method: 'get',
    path: '/v1/aggregates',
    operationId: 'aggregateEvents',
    tags: ['aggregates'],
    summary: 'Ad-hoc aggregation of events',
    description:
      'Counts and statistics of matching events, computed in PostgreSQL, per event-time bucket and up to two fields. `from` and `to` are required.',
    request: {
      query: withPredicates({
        ...commonQuery,
        ...eventFilterQuery,
        from: rfc3339,
        to: rfc3339,
        bucket: z.string().regex(BUCKET_PATTERN, 'a number and a unit s|m|h|d, e.g. 5m').default('1h'),
        fn: csv(AGGREGATE_FUNCTION_PATTERN, 'function (count, sum, avg, min, max, p<n>)').default(['count']).openapi({
          type: 'string',
          description: 'Comma-separated functions: count, sum, avg, min, max, p50, p95, p99, p99.9…',
          example: 'count,avg,p95',
        }),
        value: z.string().regex(PAYLOAD_FIELD_PATTERN).optional().openapi({ description: 'Numeric payload field the functions other than count read', example: 'data.reading_value' }),
        group_by: z
          .string()
          .max(300)
          .optional()
          .openapi({ description: `Up to two comma-separated fields: ${GROUP_ATTRIBUTES.join(', ')} or data.<field>` }),
      }),
    },
    parameters: [predicatesParameter],
    responses: {
      200: { description: 'Aggregates', headers: seqHeaders, content: { 'application/json': { schema: AggregatePageSchema } } },
      ...problemResponses,
    },
  });

  api.openapi(aggregateRoute, async (c) => {
    const q = c.req.valid('query');
    checkRange(q.from, q.to, config.QUERY_MAX_RANGE_DAYS);
    const buckets = (Date.parse(q.to) - Date.parse(q.from)) / 1000 / bucketSeconds(q.bucket);
    if (buckets > config.QUERY_MAX_AGGREGATE_ROWS) {
      throw new TidewayError(ErrorCode.InvalidQuery, `the range holds ${Math.ceil(buckets)} buckets, more than ${config.QUERY_MAX_AGGREGATE_ROWS}`, {
        issues: [{ pointer: '/bucket', message: 'use a wider bucket or a shorter range' }],
      });
    }
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const groupBy = q.group_by === undefined ? [] : q.group_by.split(',').map((g) => g.trim()).filter(Boolean);
    const predicates = predicatesOf(q);
    const position = await consistentRead(c, deps.clocks.warm, q.min_seq, config.QUERY_MIN_SEQ_WAIT_MS);
    const result = await aggregateEvents(deps.warm, {
      tenant,
      from: q.from,
      to: q.to,
      bucket: q.bucket,
      groupBy,
      functions: q.fn,
      maxRows: config.QUERY_MAX_AGGREGATE_ROWS,
      ...(q.value === undefined ? {} : { value: q.value }),
      ...(q.type === undefined ? {} : { type: q.type }),
      ...(q.source === undefined ? {} : { source: q.source }),
      ...(q.subject === undefined ? {} : { subject: q.subject }),
      ...(predicates && predicates.length > 0 ? { predicates } : {}),
    });
    cacheControl(c, q.to, position, config.QUERY_SETTLE_MS);
    return c.json({ bucket: q.bucket, group_by: groupBy, fn: q.fn, value: q.value ?? null, rows: result.rows, truncated: result.truncated }, 200);
  });

  const windowsRoute = createRoute({
    method: 'get',
    path: '/v1/aggregates/windows',
    operationId: 'listWindowResults',
    tags: ['aggregates'],
    summary: 'Window results of a pipeline',
    description: 'Results of the stream processor’s windowed aggregations, by pipeline, key and window-start range, oldest window first.',
    request: {
      query: z
        .object({
          ...commonQuery,
          pipeline: z.string().min(1).max(200),
          stage: z.string().min(1).max(200).optional(),
          key: z.string().min(1).max(512).optional(),
          from: rfc3339.optional().openapi({ description: 'Window start at or after' }),
          to: rfc3339.optional().openapi({ description: 'Window start before' }),
          final: z.enum(['true', 'false']).optional().openapi({ description: 'Only final (true) or only still-open (false) windows' }),
          limit: limitParam(config.QUERY_MAX_PAGE),
          cursor: z.string().max(1024).optional(),
        })
        .strict(),
    },
    responses: {
      200: { description: 'A page of window results', headers: seqHeaders, content: { 'application/json': { schema: page(WindowResultSchema, 'WindowResultPage') } } },
      ...problemResponses,
    },
  });

  api.openapi(windowsRoute, async (c) => {
    const q = c.req.valid('query');
    checkRange(q.from, q.to, config.QUERY_MAX_RANGE_DAYS);
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const position = await derivedRead(c, q.min_seq);
    const result = await deps.analytics.windowResults({
      tenant,
      pipeline: q.pipeline,
      limit: q.limit,
      ...(q.stage === undefined ? {} : { stage: q.stage }),
      ...(q.key === undefined ? {} : { key: q.key }),
      ...(q.from === undefined ? {} : { from: q.from }),
      ...(q.to === undefined ? {} : { to: q.to }),
      ...(q.final === undefined ? {} : { final: q.final === 'true' }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    cacheControl(c, q.to, position, config.QUERY_SETTLE_MS);
    return c.json({ items: result.items, next_cursor: result.nextCursor ?? null }, 200);
  });

  const signalQuery = {
    ...commonQuery,
    pipeline: z.string().min(1).max(200).optional(),
    key: z.string().min(1).max(512).optional().openapi({ description: 'Series key (e.g. a device id)' }),
    from: rfc3339.optional(),
    to: rfc3339.optional(),
    min_score: z.coerce.number().min(0).max(1).optional().openapi({ type: 'number', description: 'Lowest anomaly score' }),
    limit: limitParam(config.QUERY_MAX_PAGE),
    cursor: z.string().max(1024).optional(),
  };

  const anomaliesRoute = createRoute({
    method: 'get',
    path: '/v1/anomalies',
    operationId: 'listAnomalies',
    tags: ['anomalies and alerts'],
    summary: 'Anomalies, newest first',
    request: { query: z.object(signalQuery).strict() },
    responses: {
      200: { description: 'A page of anomalies', headers: seqHeaders, content: { 'application/json': { schema: page(AnomalySchema, 'AnomalyPage') } } },
      ...problemResponses,
    },
  });

  api.openapi(anomaliesRoute, async (c) => {
    const q = c.req.valid('query');
    checkRange(q.from, q.to, config.QUERY_MAX_RANGE_DAYS);
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const position = await derivedRead(c, q.min_seq);
    const result = await deps.analytics.anomalies({
      tenant,
      limit: q.limit,
      ...(q.pipeline === undefined ? {} : { pipeline: q.pipeline }),
      ...(q.key === undefined ? {} : { key: q.key }),
      ...(q.from === undefined ? {} : { from: q.from }),
      ...(q.to === undefined ? {} : { to: q.to }),
      ...(q.min_score === undefined ? {} : { minScore: q.min_score }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    cacheControl(c, q.to, position, config.QUERY_SETTLE_MS);
    return c.json({ items: result.items, next_cursor: result.nextCursor ?? null }, 200);
  });

  const alertsRoute = createRoute({
    method: 'get',
    path: '/v1/alerts',
    operationId: 'listAlerts',
    tags: ['anomalies and alerts'],
    summary: 'Alerts, newest first',
    request: { query: z.object({ ...signalQuery, status: z.enum(['open', 'acknowledged']).optional() }).strict() },
    responses: {
      200: { description: 'A page of alerts', headers: seqHeaders, content: { 'application/json': { schema: page(AlertSchema, 'AlertPage') } } },
      ...problemResponses,
    },
  });

  api.openapi(alertsRoute, async (c) => {
    const q = c.req.valid('query');
    checkRange(q.from, q.to, config.QUERY_MAX_RANGE_DAYS);
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    await derivedRead(c, q.min_seq);
    const result = await deps.analytics.alerts({
      tenant,
      limit: q.limit,
      ...(q.pipeline === undefined ? {} : { pipeline: q.pipeline }),
      ...(q.key === undefined ? {} : { key: q.key }),
      ...(q.from === undefined ? {} : { from: q.from }),
      ...(q.to === undefined ? {} : { to: q.to }),
      ...(q.min_score === undefined ? {} : { minScore: q.min_score }),
      ...(q.status === undefined ? {} : { status: q.status }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    // Acknowledgements change alerts at any time: never cache as immutable.
    c.header('Cache-Control', 'private, no-cache');
    return c.json({ items: result.items, next_cursor: result.nextCursor ?? null }, 200);
  });

  const ackRoute = createRoute({
    method: 'post',
    path: '/v1/alerts/{id}/acknowledge',
    operationId: 'acknowledgeAlert',
    tags: ['anomalies and alerts'],
    summary: 'Acknowledge an alert',
    description:
      'Publishes a `tideway.alert.acknowledged` event (subject = the alert id) to the event log, so the acknowledgement is part of the log and survives rebuilds, then waits (bounded) until the warm store shows it. Idempotent: the first acknowledgement stands.',
    request: {
      params: z.object({ id: z.string().min(1).max(256) }),
      query: z.object({ tenant: commonQuery.tenant }).strict(),
      body: {
        required: false,
        content: {
          'application/json': {
            schema: z
              .object({ by: z.string().min(1).max(200).optional(), note: z.string().max(2000).optional() })
              .strict()
              .openapi('AlertAcknowledgement'),
          },
        },
      },
    },
    responses: {
      200: { description: 'Acknowledged, and visible in reads (`alert` is set)', headers: seqHeaders, content: { 'application/json': { schema: AcknowledgementResultSchema } } },
      202: { description: 'Stored in the event log, not yet applied to the warm store (`alert` is null)', headers: seqHeaders, content: { 'application/json': { schema: AcknowledgementResultSchema } } },
      404: problem('No such alert'),
      ...problemResponses,
    },
  });

  api.openapi(ackRoute, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const body = (c.req.header('content-type') ?? '').includes('json') ? c.req.valid('json') : {};
    if (!deps.publish) throw new TidewayError(ErrorCode.StoreUnavailable, 'the event log is not reachable', { retryAfterSeconds: 2 });
    if (!(await deps.analytics.alert(tenant, id))) throw new TidewayError(ErrorCode.NotFound, `no alert with id ${id}`);
    const principal = (c.get as (key: string) => unknown)('principal') as { keyId?: string; anonymous?: boolean } | undefined;
    const by = body.by ?? (principal && !principal.anonymous && principal.keyId ? `key:${principal.keyId}` : undefined);
    const event = alertAcknowledgementEvent(tenant, id, { ...(by === undefined ? {} : { by }), ...(body.note === undefined ? {} : { note: body.note }) });
    const ack = await deps.publish(event);
    let alert;
    try {
      // Read-your-writes: the acknowledgement is visible once the warm events projection has applied it.
      const position = await consistentRead(c, deps.clocks.warm, ack.seq, config.QUERY_MIN_SEQ_WAIT_MS);
      c.header('Tideway-Seq', String(position.seq));
      alert = (await deps.analytics.alert(tenant, id)) ?? null;
    } catch (error) {
      if (!(error instanceof TidewayError && error.code === ErrorCode.StoreUnavailable)) throw error;
      c.header('Tideway-Seq', String((await deps.clocks.warm()).seq));
      alert = null;
    }
    const result = { alert_id: id, event_id: event.id, seq: ack.seq, duplicate: ack.duplicate, alert };
    return alert ? c.json(result, 200) : c.json(result, 202);
  });

  return api;
}
