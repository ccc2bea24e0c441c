import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { sign as signGithub } from '@octokit/webhooks-methods';
import { Analytics } from '@segment/analytics-node';
import { CloudEvent, Mode, emitterFor, httpTransport } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, openAuthStore } from '@tideway/auth';
import { waitFor } from '@tideway/testing';
import { createKey, eventIdCounts, postJson, readStream, send, startGateway } from './gateway-support.ts';
import type { Platform } from './platform.ts';

const githubSecret = 'gh-secret-for-tests';
const stripeSecret = 'whsec_stripe_test_secret';
const standardSecret = `whsec_${randomBytes(24).toString('base64')}`;
const hmacSecret = 'shared-hmac-secret';

describe('producers: SDKs and signed webhooks against the gateway', () => {
  let platform: Platform;
  let key: string;
  beforeAll(async () => {
    platform = await startGateway({
      env: {
        INGEST_WEBHOOKS: JSON.stringify([
          { name: 'gh', scheme: 'github', secret: githubSecret, tenant: 'acme' },
          { name: 'stripe', scheme: 'stripe', secret: stripeSecret, tenant: 'acme' },
          { name: 'billing', scheme: 'standard', secret: standardSecret, tenant: 'acme' },
          {
            name: 'shipping',
            scheme: 'hmac-sha256',
            secret: hmacSecret,
            tenant: 'acme',
            signatureHeader: 'X-Shipper-Signature',
          },
        ]),
      },
    });
    key = await createKey(platform, 'acme', ['ingest']);
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  it('@segment/analytics-node: every event arrives once, even when the SDK retries after a lost response', async () => {
    // A proxy that forwards every request to the gateway but answers 503 to the first two, as if the response was
    // lost after the gateway stored the batch: the SDK retries the same batch, with the same messageIds.
    let dropped = 0;
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const upstream = await fetch(`${platform.ingestUrl}${req.url}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' },
            body: Buffer.concat(chunks),
          });
          const body = await upstream.text();
          if (upstream.status === 200 && dropped < 2) {
            dropped++;
            res.writeHead(503).end();
            return;
          }
          res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body);
        })();
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as { port: number }).port;
    const analytics = new Analytics({
      writeKey: key,
      host: `http://127.0.0.1:${port}`,
      flushAt: 25,
      flushInterval: 50,
      maxRetries: 5,
    });
    const errors: unknown[] = [];
    analytics.on('error', (e) => errors.push(e));
    for (let i = 0; i < 100; i++) {
      if (i % 4 === 0) analytics.identify({ userId: `user-${i}`, traits: { plan: 'pro' } });
      else analytics.track({ userId: `user-${i % 10}`, event: 'Order Completed', properties: { n: i } });
    }
    analytics.page({ anonymousId: 'anon-1', name: 'Home' });
    analytics.group({ userId: 'user-1', groupId: 'org-1' });
    await analytics.closeAndFlush({ timeout: 30_000 });
    proxy.close();
    expect(errors).toEqual([]);
    expect(dropped).toBe(2);

    const segment = (await readStream(platform, 'EVENTS')).filter((m) => String(m.data.type).startsWith('segment.'));
    expect(segment).toHaveLength(102);
    expect(new Set(segment.map((m) => m.data.id)).size).toBe(102);
    expect(segment.every((m) => m.data.tenant === 'acme' && !('writeKey' in m.data.data))).toBe(true);
    expect(new Set(segment.map((m) => m.data.type))).toEqual(
      new Set(['segment.identify', 'segment.track', 'segment.page', 'segment.group']),
    );
  });

  it('the Segment endpoints refuse a missing or unknown write key with 401', async () => {
    const body = { userId: 'u', event: 'X' };
    const none = await send(`${platform.ingestUrl}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(none.status).toBe(401);
    const basic = `Basic ${Buffer.from('wk_unknown:').toString('base64')}`;
    const unknown = await send(`${platform.ingestUrl}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic },
      body: JSON.stringify(body),
    });
    expect([unknown.status, unknown.body.code]).toEqual([401, 'unauthorized']);
  });

  it('the cloudevents SDK HTTP emitter, binary and structured mode', async () => {
    const headers = { authorization: `Bearer ${key}` };
    for (const mode of [Mode.BINARY, Mode.STRUCTURED]) {
      const emit = emitterFor(httpTransport(`${platform.ingestUrl}/v1/events`), { mode });
      for (let i = 0; i < 5; i++) {
        await emit(
          new CloudEvent({
            id: `ce-${mode}-${i}`,
            source: '/sdk/cloudevents',
            type: 'iot.sensor.reading',
            subject: `dev-${i}`,
            data: { device_id: `dev-${i}`, reading_value: 20 + i },
            correlationid: `flow-${mode}`,
          }),
          { headers },
        );
      }
    }
    const ce = (await readStream(platform, 'EVENTS')).filter((m) => m.data.source === '/sdk/cloudevents');
    expect(ce.map((m) => m.data.id).sort()).toEqual(
      [...[0, 1, 2, 3, 4].map((i) => `ce-binary-${i}`), ...[0, 1, 2, 3, 4].map((i) => `ce-structured-${i}`)].sort(),
    );
    const binary = ce.find((m) => m.data.id === 'ce-binary-3')!;
    expect(binary.data).toMatchObject({
      tenant: 'acme',
      subject: 'dev-3',
      correlationid: 'flow-binary',
      data: { device_id: 'dev-3', reading_value: 23 },
    });
    expect(binary.headers?.get('Tw-Schema-Version')).toBe('2');
  });

  it('a CloudEvents batch (application/cloudevents-batch+json)', async () => {
    const batch = [1, 2, 3].map((i) => ({
      specversion: '1.0',
      id: `batch-${i}`,
      source: '/sdk/batch',
      type: 'misc.thing',
      data: { i },
    }));
    const res = await postJson(`${platform.ingestUrl}/v1/events`, batch, key, 'application/cloudevents-batch+json');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ accepted: 3, created: 3 });
  });

  describe('webhooks signed by the producers’ own libraries', () => {
    const url = (source: string) => `${platform.ingestUrl}/v1/webhooks/${source}`;
    const deliver = (source: string, headers: Record<string, string>, body: string) =>
      send(url(source), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    it('accepts GitHub, Stripe, Standard Webhooks and generic HMAC deliveries, de-duplicating redeliveries', async () => {
      const push = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/api' } });
      const gh = {
        'x-github-event': 'push',
        'x-github-delivery': 'd-1',
        'x-hub-signature-256': await signGithub(githubSecret, push),
      };
      expect((await deliver('gh', gh, push)).status).toBe(202);
      const again = await deliver('gh', gh, push);
      expect(again.body.results[0].status).toBe('duplicate');

      const charge = JSON.stringify({
        id: 'evt_1',
        type: 'charge.succeeded',
        created: Math.floor(Date.now() / 1000),
        data: { object: { id: 'ch_1' } },
      });
      const stripeHeader = Stripe.webhooks.generateTestHeaderString({ payload: charge, secret: stripeSecret });
      expect((await deliver('stripe', { 'stripe-signature': stripeHeader }, charge)).status).toBe(202);

      const invoice = JSON.stringify({
        type: 'invoice.paid',
        timestamp: new Date().toISOString(),
        data: { invoice: 'in_1' },
      });
      const std = new Webhook(standardSecret).sign('msg_1', new Date(), invoice);
      const stdHeaders = {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': std,
      };
      expect((await deliver('billing', stdHeaders, invoice)).status).toBe(202);

      const shipped = JSON.stringify({ order: 'o-1' });
      const { createHmac } = await import('node:crypto');
      const mac = createHmac('sha256', hmacSecret).update(shipped).digest('hex');
      expect((await deliver('shipping', { 'x-shipper-signature': mac }, shipped)).status).toBe(202);

      const events = (await readStream(platform, 'EVENTS'))
        .map((m) => m.data)
        .filter((e) => String(e.source).startsWith('/webhooks/'));
      expect(events.map((e) => e.type).sort()).toEqual([
        'billing.invoice.paid',
        'github.push',
        'stripe.charge.succeeded',
        'webhook.shipping',
      ]);
      expect(events.every((e) => e.tenant === 'acme')).toBe(true);
    });

    it('refuses tampered, unsigned, stale and unknown deliveries: problem+json, a metric and an audit record, nothing published', async () => {
      const before = (await eventIdCounts(platform)).size;
      const push = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/api' } });
      const signature = await signGithub(githubSecret, push);
      const tampered = await deliver(
        'gh',
        { 'x-github-event': 'push', 'x-github-delivery': 'd-2', 'x-hub-signature-256': signature },
        push.replace('main', 'prod'),
      );
      expect([tampered.status, tampered.body.code]).toEqual([401, 'webhook-signature-invalid']);
      expect(tampered.headers.get('content-type')).toContain('application/problem+json');
      const unsigned = await deliver('gh', { 'x-github-event': 'push' }, push);
      expect(unsigned.body.code).toBe('webhook-signature-missing');

      const charge = JSON.stringify({
        id: 'evt_2',
        type: 'charge.failed',
        created: 1,
        data: { object: { id: 'ch_2' } },
      });
      const stale = Stripe.webhooks.generateTestHeaderString({
        payload: charge,
        secret: stripeSecret,
        timestamp: Math.floor(Date.now() / 1000) - 3600,
      });
      expect((await deliver('stripe', { 'stripe-signature': stale }, charge)).body.code).toBe(
        'webhook-timestamp-outside-tolerance',
      );
      const forged = Stripe.webhooks.generateTestHeaderString({ payload: charge, secret: 'whsec_wrong' });
      expect((await deliver('stripe', { 'stripe-signature': forged }, charge)).body.code).toBe(
        'webhook-signature-invalid',
      );

      const invoice = JSON.stringify({ type: 'invoice.paid', data: {} });
      const std = new Webhook(standardSecret).sign('msg_2', new Date(), invoice);
      const replayed = await deliver(
        'billing',
        {
          'webhook-id': 'msg_other',
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': std,
        },
        invoice,
      );
      expect(replayed.body.code).toBe('webhook-signature-invalid');

      const unknown = await deliver('gitlab', {}, '{}');
      expect([unknown.status, unknown.body.code]).toEqual([404, 'webhook-unknown-source']);

      expect((await eventIdCounts(platform)).size).toBe(before);
      const metrics = await (await fetch(`${platform.ingestUrl}/metrics`)).text();
      expect(metrics).toMatch(
        /tideway_ingest_webhook_refusals_total\{[^}]*source="gh"[^}]*code="webhook-signature-invalid"[^}]*\} 1/,
      );
      expect(metrics).toMatch(/tideway_ingest_webhook_refusals_total\{[^}]*source="\(unknown\)"[^}]*\} 1/);

      const store = openAuthStore({
        url: platform.env['DATABASE_URL']!,
        schema: platform.env['DATABASE_SCHEMA']!,
        max: 1,
      });
      try {
        const audit = new AuditLog(store);
        const records = await waitFor(async () => {
          const r = await audit.list({ action: 'webhook.refused' });
          return r.length >= 6 ? r : undefined;
        });
        expect(records.map((r) => r.code).sort()).toEqual(
          [
            'webhook-signature-invalid',
            'webhook-signature-invalid',
            'webhook-signature-invalid',
            'webhook-signature-missing',
            'webhook-timestamp-outside-tolerance',
            'webhook-unknown-source',
          ].sort(),
        );
        expect(records.find((r) => r.code === 'webhook-unknown-source')).toMatchObject({
          tenant: null,
          actor: 'webhook:gitlab',
        });
      } finally {
        await store.close();
      }
    });
  });
});
