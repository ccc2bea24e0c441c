import type { Hono } from 'hono';
import { authenticate, type AuthEnv } from '@tideway/auth';
import { parseSegmentItems, SEGMENT_CALLS, type SegmentEndpoint } from '@tideway/producers';
import { admit, declaredLength, rateLimit, readBody, type Gateway } from '../gateway.ts';
import { refuseIfNothingAccepted } from '../pipeline.ts';
import { ingestContext } from './events.ts';

/**
 * The Segment HTTP tracking API: `POST /v1/batch` and `/v1/{track,identify,page,screen,group,alias}`, with the write
 * key as the Basic auth user name (a write key is an API key with the `ingest` scope; its tenant is the events'
 * tenant). `messageId` is the event id, so SDK retries are de-duplicated. Answers 200 `{"success": true, …}` as
 * Segment does.
 */
export function mountSegmentRoutes(app: Hono<AuthEnv>, gateway: Gateway): void {
  const { config } = gateway;
  const endpoints: SegmentEndpoint[] = ['batch', ...SEGMENT_CALLS];
  for (const endpoint of endpoints) {
    app.post(
      `/v1/${endpoint}`,
      authenticate({
        mode: config.TIDEWAY_AUTH,
        keys: gateway.keys,
        defaultTenant: config.INGEST_DEFAULT_TENANT,
        scope: 'ingest',
        acceptBasic: true,
      }),
      rateLimit(gateway),
      admit(gateway, (c) => declaredLength(c, config.INGEST_MAX_BODY_BYTES)),
      async (c) => {
        const body = await readBody(c, config.INGEST_MAX_BODY_BYTES);
        const ctx = ingestContext(c, 'segment');
        const items = parseSegmentItems(
          { headers: c.req.raw.headers, body },
          { endpoint, receivedAt: ctx.receivedAt, maxEvents: config.INGEST_MAX_BATCH, validate: gateway.validator },
        );
        const result = await gateway.pipeline.ingest(items, ctx);
        gateway.metrics.count('segment', result);
        gateway.metrics.batchSize.observe(items.length);
        refuseIfNothingAccepted(result);
        return c.json({ success: true, ...result }, 200);
      },
    );
  }
}
