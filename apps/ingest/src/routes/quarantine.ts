import type { Hono } from 'hono';
import { z } from 'zod';
import { authenticate, type AuthEnv } from '@tideway/auth';
import { ErrorCode, TidewayError } from '@tideway/events';
import { parseJsonText } from '@tideway/producers';
import { readBody, type Gateway } from '../gateway.ts';
import type { IngestContext } from '../pipeline.ts';
import { keptHeaders } from '../quarantine.ts';
import { jsonBody } from './keys.ts';

const ListQuery = z
  .object({
    after: z.string().regex(/^\d+$/).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    reason: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .optional(),
    status: z.enum(['open', 'resubmitted', 'rejected']).optional(),
  })
  .strict();

/** Channels whose quarantined payload is a CloudEvent, so it can be resubmitted without a correction. */
const CLOUDEVENT_CHANNELS = new Set(['events', 'ndjson', 'resubmit']);

/**
 * The quarantine API (`ingest` scope, own tenant):
 * `GET /v1/quarantine` (`after`, `limit`, `reason`, `status`), `GET /v1/quarantine/:id`,
 * `POST /v1/quarantine/:id/resubmit` (body: the corrected CloudEvent; empty to resubmit the original as it is, e.g.
 * after a schema change) and `POST /v1/quarantine/:id/reject` (`{"reason": "…"}`). A resubmitted event carries the
 * NATS header `Tw-Corrects: <id>`, and the item records the event it became; an item is resolved at most once.
 */
export function mountQuarantineRoutes(app: Hono<AuthEnv>, gateway: Gateway): void {
  const { config, quarantine } = gateway;
  const auth = authenticate({
    mode: config.TIDEWAY_AUTH,
    keys: gateway.keys,
    defaultTenant: config.INGEST_DEFAULT_TENANT,
    scope: 'ingest',
  });

  app.get('/v1/quarantine', auth, async (c) => {
    const parsed = ListQuery.safeParse(c.req.query());
    if (!parsed.success)
      throw new TidewayError(ErrorCode.InvalidQuery, 'the query parameters are invalid', {
        issues: parsed.error.issues.map((i) => ({ pointer: `/${i.path.join('/')}`, message: i.message })),
      });
    const q = parsed.data;
    const page = await quarantine.list(c.var.principal.tenant, {
      limit: q.limit,
      ...(q.after === undefined ? {} : { after: Number(q.after) }),
      ...(q.reason === undefined ? {} : { reason: q.reason }),
      ...(q.status === undefined ? {} : { status: q.status }),
    });
    return c.json({ items: page.items, next_after: page.next });
  });

  app.get('/v1/quarantine/:id', auth, async (c) => {
    const item = await quarantine.get(c.var.principal.tenant, c.req.param('id'));
    if (item === undefined) throw new TidewayError(ErrorCode.NotFound, `no quarantined item ${c.req.param('id')}`);
    return c.json(item);
  });

  app.post('/v1/quarantine/:id/resubmit', auth, async (c) => {
    const principal = c.var.principal;
    const id = c.req.param('id');
    const item = await quarantine.get(principal.tenant, id);
    if (item === undefined) throw new TidewayError(ErrorCode.NotFound, `no quarantined item ${id}`);
    if (item.status !== 'open')
      throw new TidewayError(ErrorCode.Conflict, `quarantined item ${id} is already ${item.status}`, {
        resolution: item.resolution,
      });
    const text = new TextDecoder().decode(await readBody(c, config.INGEST_MAX_EVENT_BYTES));
    let candidate: unknown;
    try {
      if (text.trim() !== '') candidate = parseJsonText(text);
      else if (CLOUDEVENT_CHANNELS.has(item.channel) && item.payload_encoding === 'utf8')
        candidate = parseJsonText(item.payload);
      else
        throw new TidewayError(
          ErrorCode.InvalidBody,
          `item ${id} came through ${item.channel}; send the corrected CloudEvent as the body`,
        );
    } catch (cause) {
      if (cause instanceof TidewayError) throw cause;
      throw new TidewayError(
        ErrorCode.InvalidBody,
        'the correction (or the original) is not valid JSON',
        {},
        { cause },
      );
    }
    const checked = gateway.validator(candidate);
    if (!checked.ok) {
      throw new TidewayError(ErrorCode.InvalidEvent, 'the correction is still invalid; the item stays in quarantine', {
        issues: checked.issues,
      });
    }
    const revision = await quarantine.claim(principal.tenant, id, {
      state: 'resubmitting',
      at: new Date().toISOString(),
      by: principal.keyId,
    });
    const ctx: IngestContext = {
      principal,
      channel: 'resubmit',
      receivedAt: new Date(),
      headers: keptHeaders(c.req.raw.headers),
      eventHeaders: { 'Tw-Corrects': id },
    };
    let outcome;
    try {
      const result = await gateway.pipeline.ingest(
        [
          {
            index: 0,
            ok: true,
            event: checked.value,
            ...(checked.schemaVersion === undefined ? {} : { schemaVersion: checked.schemaVersion }),
          },
        ],
        ctx,
      );
      outcome = result.results[0];
    } catch (error) {
      await quarantine.release(principal.tenant, id).catch(() => undefined);
      throw error;
    }
    if (outcome === undefined || outcome.status === 'quarantined')
      throw new TidewayError(ErrorCode.Internal, 'resubmission produced no event');
    const resolution = {
      state: 'resubmitted' as const,
      at: new Date().toISOString(),
      by: principal.keyId,
      event: {
        id: outcome.id,
        source: outcome.source,
        stream: outcome.stream,
        seq: outcome.seq,
        duplicate: outcome.status === 'duplicate',
      },
    };
    await quarantine.settle(principal.tenant, id, resolution, revision);
    gateway.metrics.count('resubmit', {
      created: outcome.status === 'created' ? 1 : 0,
      duplicates: outcome.status === 'duplicate' ? 1 : 0,
      quarantined: 0,
    });
    gateway.audit.record({
      tenant: principal.tenant,
      actor: principal.keyId,
      action: 'quarantine.resubmitted',
      detail: { id, event: resolution.event },
    });
    return c.json({ id, status: 'resubmitted', resolution });
  });

  app.post('/v1/quarantine/:id/reject', auth, async (c) => {
    const principal = c.var.principal;
    const id = c.req.param('id');
    const body = await jsonBody(c, z.object({ reason: z.string().min(1).max(1000) }).strict());
    const item = await quarantine.get(principal.tenant, id);
    if (item === undefined) throw new TidewayError(ErrorCode.NotFound, `no quarantined item ${id}`);
    const resolution = {
      state: 'rejected' as const,
      at: new Date().toISOString(),
      by: principal.keyId,
      reason: body.reason,
    };
    await quarantine.claim(principal.tenant, id, resolution);
    gateway.audit.record({
      tenant: principal.tenant,
      actor: principal.keyId,
      action: 'quarantine.rejected',
      detail: { id, reason: body.reason },
    });
    return c.json({ id, status: 'rejected', resolution });
  });
}
