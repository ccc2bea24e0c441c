import type { Hono } from 'hono';
import type { AuthEnv } from '@tideway/auth';
import { isTidewayError } from '@tideway/events';
import { admit, declaredLength, readBody, type Gateway } from '../gateway.ts';
import { keptHeaders } from '../quarantine.ts';

const REFUSALS = new Set([
  'webhook-unknown-source',
  'webhook-signature-missing',
  'webhook-signature-invalid',
  'webhook-timestamp-outside-tolerance',
]);

/**
 * `POST /v1/webhooks/:source`: deliveries from configured sources (GitHub, Stripe, Standard Webhooks, generic
 * HMAC-SHA256), authenticated by their signature, not an API key. Refusals (unknown source, missing or bad signature,
 * stale timestamp) are answered with problem+json, counted in `tideway_ingest_webhook_refusals_total` and written to
 * the security audit log; nothing of them is published. A signed delivery that does not map to a valid event is
 * quarantined and still answered 202, so that the sender does not redeliver it for days.
 */
export function mountWebhookRoutes(app: Hono<AuthEnv>, gateway: Gateway): void {
  const { config } = gateway;
  app.post(
    '/v1/webhooks/:source',
    async (c, next) => {
      const name = c.req.param('source');
      const tenant = gateway.webhookTenants.get(name) ?? config.INGEST_DEFAULT_TENANT;
      c.set('principal', { tenant, keyId: `webhook:${name}`, scopes: ['ingest'], anonymous: false });
      await next();
    },
    admit(gateway, (c) => declaredLength(c, config.INGEST_MAX_BODY_BYTES)),
    async (c) => {
      const name = c.req.param('source');
      const body = await readBody(c, config.INGEST_MAX_BODY_BYTES);
      let items;
      try {
        items = gateway.webhooks.parseItems(
          name,
          { headers: c.req.raw.headers, body },
          { validate: gateway.validator },
        );
      } catch (error) {
        if (isTidewayError(error) && REFUSALS.has(error.code)) {
          const known = gateway.webhookTenants.has(name);
          gateway.metrics.webhookRefusals.inc({ source: known ? name : '(unknown)', code: error.code });
          gateway.audit.record({
            tenant: known ? gateway.webhookTenants.get(name)! : null,
            actor: `webhook:${name.slice(0, 100)}`,
            action: 'webhook.refused',
            code: error.code,
            detail: {
              source: name.slice(0, 100),
              message: error.message,
              remote: c.req.header('x-forwarded-for') ?? null,
              bytes: body.byteLength,
              headers: keptHeaders(c.req.raw.headers),
            },
          });
        }
        throw error;
      }
      const ctx = {
        principal: c.var.principal,
        channel: 'webhook' as const,
        receivedAt: new Date(),
        headers: keptHeaders(c.req.raw.headers),
      };
      const result = await gateway.pipeline.ingest(items, ctx);
      gateway.metrics.count('webhook', result);
      return c.json(result, 202);
    },
  );
}
