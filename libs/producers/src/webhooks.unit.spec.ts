import { createHmac, randomBytes } from 'node:crypto';
import { sign as signGithub } from '@octokit/webhooks-methods';
import { ErrorCode, TidewayError } from '@tideway/events';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { createWebhookRegistry, type WebhookSourceConfig } from './webhooks.ts';

function thrown(fn: () => unknown): TidewayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TidewayError) return error;
    throw error;
  }
  throw new Error('expected a TidewayError');
}

const T0 = 1_740_830_400; // 2025-03-01T12:00:00Z
const at = (seconds: number) => () => new Date(seconds * 1000);

describe('GitHub webhooks', () => {
  const secret = 'gh-secret';
  const registry = createWebhookRegistry([{ name: 'gh', scheme: 'github', secret: ['old-secret', secret] }]);
  const payload = JSON.stringify({
    ref: 'refs/heads/main',
    repository: { full_name: 'acme/api' },
    sender: { login: 'ada' },
  });
  const headers = async (body: string, key = secret) => ({
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    'x-hub-signature-256': await signGithub(key, body),
  });

  it('maps a delivery signed by @octokit/webhooks-methods', async () => {
    const [event] = registry.parse('gh', { headers: await headers(payload), body: new TextEncoder().encode(payload) });
    expect(event).toEqual({
      specversion: '1.0',
      id: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      source: '/webhooks/gh',
      type: 'github.push',
      subject: 'acme/api',
      datacontenttype: 'application/json',
      data: JSON.parse(payload) as unknown,
    });
  });

  it('accepts any secret of a rotation and the form-encoded payload', async () => {
    expect(registry.parse('gh', { headers: await headers(payload, 'old-secret'), body: payload })).toHaveLength(1);
    const form = `payload=${encodeURIComponent(payload)}`;
    const [event] = registry.parse('gh', {
      headers: { ...(await headers(form)), 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    expect(event?.data).toEqual(JSON.parse(payload));
  });

  it('refuses a tampered body, a wrong secret and a missing signature', async () => {
    const unsigned = thrown(() => registry.parse('gh', { headers: {}, body: payload }));
    expect([unsigned.code, unsigned.status]).toEqual([ErrorCode.WebhookSignatureMissing, 401]);
    const signed = await headers(payload);
    const edited = thrown(() => registry.parse('gh', { headers: signed, body: payload.replace('main', 'prod') }));
    expect([edited.code, edited.status]).toEqual([ErrorCode.WebhookSignatureInvalid, 401]);
    const wrongSecret = await headers(payload, 'wrong');
    expect(thrown(() => registry.parse('gh', { headers: wrongSecret, body: payload })).code).toBe(
      ErrorCode.WebhookSignatureInvalid,
    );
    expect(
      thrown(() => registry.parse('gh', { headers: { ...signed, 'x-hub-signature-256': 'sha1=abc' }, body: payload }))
        .code,
    ).toBe(ErrorCode.WebhookSignatureInvalid);
  });

  it('answers 404 for a source nobody configured', () => {
    const error = thrown(() => registry.parse('gitlab', { headers: {}, body: '' }));
    expect([error.code, error.status]).toEqual([ErrorCode.WebhookUnknownSource, 404]);
  });

  it('refuses a signed delivery without an event type', async () => {
    const { 'x-github-event': _event, ...withoutType } = await headers(payload);
    const error = thrown(() => registry.parse('gh', { headers: withoutType, body: payload }));
    expect(error.code).toBe(ErrorCode.InvalidEvent);
    expect(error.details.issues).toEqual([
      { pointer: '/type', message: expect.stringContaining('x-github-event') as string },
    ]);
  });
});

describe('Stripe webhooks', () => {
  const secret = 'whsec_stripe_test_secret';
  const payload = JSON.stringify({
    id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
    object: 'event',
    type: 'payment_intent.succeeded',
    created: T0 - 5,
    data: { object: { id: 'pi_3MtwBwLkdIwHu7ix28a3tqPa', object: 'payment_intent', amount: 2000 } },
  });
  const signed = (timestamp: number, key = secret) => ({
    'content-type': 'application/json; charset=utf-8',
    'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: key, timestamp }),
  });

  it('maps an event signed by the stripe SDK', () => {
    const registry = createWebhookRegistry([{ name: 'stripe', scheme: 'stripe', secret }], { now: at(T0 + 10) });
    const [event] = registry.parse('stripe', { headers: signed(T0), body: payload });
    expect(event).toMatchObject({
      id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
      type: 'stripe.payment_intent.succeeded',
      time: new Date((T0 - 5) * 1000).toISOString(),
      subject: 'pi_3MtwBwLkdIwHu7ix28a3tqPa',
      source: '/webhooks/stripe',
    });
  });

  it('refuses stale and future timestamps beyond the tolerance (300 s by default, configurable)', () => {
    const stale = createWebhookRegistry([{ name: 'stripe', scheme: 'stripe', secret }], { now: at(T0 + 301) });
    const error = thrown(() => stale.parse('stripe', { headers: signed(T0), body: payload }));
    expect([error.code, error.status]).toEqual([ErrorCode.WebhookTimestampOutsideTolerance, 401]);
    expect(thrown(() => stale.parse('stripe', { headers: signed(T0 + 700), body: payload })).code).toBe(
      ErrorCode.WebhookTimestampOutsideTolerance,
    );
    const lenient = createWebhookRegistry([{ name: 'stripe', scheme: 'stripe', secret, toleranceSeconds: 600 }], {
      now: at(T0 + 301),
    });
    expect(lenient.parse('stripe', { headers: signed(T0), body: payload })).toHaveLength(1);
  });

  it('refuses a tampered body, a wrong secret and a malformed header', () => {
    const registry = createWebhookRegistry([{ name: 'stripe', scheme: 'stripe', secret }], { now: at(T0) });
    expect(
      thrown(() => registry.parse('stripe', { headers: signed(T0), body: payload.replace('2000', '20') })).code,
    ).toBe(ErrorCode.WebhookSignatureInvalid);
    expect(thrown(() => registry.parse('stripe', { headers: signed(T0, 'whsec_other'), body: payload })).code).toBe(
      ErrorCode.WebhookSignatureInvalid,
    );
    expect(
      thrown(() => registry.parse('stripe', { headers: { 'stripe-signature': 'garbage' }, body: payload })).code,
    ).toBe(ErrorCode.WebhookSignatureInvalid);
    expect(thrown(() => registry.parse('stripe', { headers: {}, body: payload })).code).toBe(
      ErrorCode.WebhookSignatureMissing,
    );
  });
});

describe('Standard Webhooks', () => {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const payload = JSON.stringify({
    type: 'invoice.paid',
    timestamp: '2025-03-01T11:59:58.5Z',
    data: { invoice: 'in_1' },
  });
  const signed = (timestamp: number, key = secret, body = payload) => ({
    'content-type': 'application/json',
    'webhook-id': 'msg_2LJ8Dq1R',
    'webhook-timestamp': String(timestamp),
    'webhook-signature': new Webhook(key).sign('msg_2LJ8Dq1R', new Date(timestamp * 1000), body),
  });
  const registry = createWebhookRegistry([{ name: 'billing', scheme: 'standard', secret }], { now: at(T0) });

  it('maps a message signed by the standardwebhooks library', () => {
    const [event] = registry.parse('billing', { headers: signed(T0 - 2), body: payload });
    expect(event).toMatchObject({
      id: 'msg_2LJ8Dq1R',
      type: 'billing.invoice.paid',
      time: '2025-03-01T11:59:58.500Z',
      source: '/webhooks/billing',
    });
    expect(event?.data).toEqual(JSON.parse(payload));
  });

  it('refuses tampering, a wrong secret, a stale timestamp and missing headers', () => {
    const other = `whsec_${randomBytes(24).toString('base64')}`;
    expect(
      thrown(() => registry.parse('billing', { headers: signed(T0), body: payload.replace('in_1', 'in_2') })).code,
    ).toBe(ErrorCode.WebhookSignatureInvalid);
    expect(thrown(() => registry.parse('billing', { headers: signed(T0, other), body: payload })).code).toBe(
      ErrorCode.WebhookSignatureInvalid,
    );
    expect(thrown(() => registry.parse('billing', { headers: signed(T0 - 600), body: payload })).code).toBe(
      ErrorCode.WebhookTimestampOutsideTolerance,
    );
    const { 'webhook-id': _id, ...withoutId } = signed(T0);
    expect(thrown(() => registry.parse('billing', { headers: withoutId, body: payload })).code).toBe(
      ErrorCode.WebhookSignatureMissing,
    );
    // The id is signed too: replaying the signature under another id fails.
    expect(
      thrown(() => registry.parse('billing', { headers: { ...signed(T0), 'webhook-id': 'msg_other' }, body: payload }))
        .code,
    ).toBe(ErrorCode.WebhookSignatureInvalid);
  });

  it('refuses a secret that is not whsec_ base64 at configuration time', () => {
    expect(() => createWebhookRegistry([{ name: 'bad', scheme: 'standard', secret: 'whsec_not base64!' }])).toThrow(
      /whsec_/,
    );
  });
});

describe('generic HMAC-SHA256 webhooks', () => {
  const secret = 'shared-secret';
  const payload = JSON.stringify({ kind: 'order.shipped', order: { id: 'o-1' }, at: 1_740_830_000_000 });
  const mac = (content: string, encoding: 'hex' | 'base64') =>
    createHmac('sha256', secret).update(content).digest(encoding);

  it('verifies a hex signature over the body and applies a custom mapping', () => {
    const config: WebhookSourceConfig = {
      name: 'shipping',
      scheme: 'hmac-sha256',
      secret,
      signatureHeader: 'X-Shipper-Signature',
      signaturePrefix: 'sha256=',
      mapping: {
        type: { pointer: '/kind', prefix: 'shipper.' },
        id: { pointer: '/order/id' },
        time: { pointer: '/at' },
        timeUnit: 'milliseconds',
      },
    };
    const registry = createWebhookRegistry([config]);
    const [event] = registry.parse('shipping', {
      headers: { 'x-shipper-signature': `sha256=${mac(payload, 'hex')}` },
      body: payload,
    });
    expect(event).toMatchObject({
      type: 'shipper.order.shipped',
      id: 'o-1',
      time: new Date(1_740_830_000_000).toISOString(),
    });
    expect(
      thrown(() =>
        registry.parse('shipping', {
          headers: { 'x-shipper-signature': `sha256=${mac(payload + ' ', 'hex')}` },
          body: payload,
        }),
      ).code,
    ).toBe(ErrorCode.WebhookSignatureInvalid);
  });

  it('verifies a base64 signature over timestamp and body, within the tolerance', () => {
    const registry = createWebhookRegistry(
      [
        {
          name: 'pos',
          scheme: 'hmac-sha256',
          secret,
          encoding: 'base64',
          timestampHeader: 'X-Timestamp',
          toleranceSeconds: 60,
        },
      ],
      { now: at(T0) },
    );
    const headers = (t: number) => ({ 'x-signature': mac(`${t}.${payload}`, 'base64'), 'x-timestamp': String(t) });
    const [event] = registry.parse('pos', { headers: headers(T0 - 30), body: payload });
    expect(event?.type).toBe('webhook.pos');
    expect(thrown(() => registry.parse('pos', { headers: headers(T0 - 61), body: payload })).code).toBe(
      ErrorCode.WebhookTimestampOutsideTolerance,
    );
    expect(
      thrown(() => registry.parse('pos', { headers: { ...headers(T0), 'x-timestamp': String(T0 - 1) }, body: payload }))
        .code,
    ).toBe(ErrorCode.WebhookSignatureInvalid);
  });

  it('keeps a non-JSON body as text, and refuses a JSON body that does not parse', () => {
    const registry = createWebhookRegistry([{ name: 'plain', scheme: 'hmac-sha256', secret }]);
    const [event] = registry.parse('plain', {
      headers: { 'x-signature': mac('hello', 'hex'), 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(event).toMatchObject({ data: 'hello', datacontenttype: 'text/plain' });
    expect(
      thrown(() => registry.parse('plain', { headers: { 'x-signature': mac('{oops', 'hex') }, body: '{oops' })).code,
    ).toBe(ErrorCode.InvalidBody);
  });

  it('refuses duplicate and malformed configuration', () => {
    expect(() =>
      createWebhookRegistry([
        { name: 'a', scheme: 'github', secret: 's' },
        { name: 'a', scheme: 'stripe', secret: 's' },
      ]),
    ).toThrow(/twice/);
    expect(() => createWebhookRegistry([{ name: 'Bad Name', scheme: 'github', secret: 's' }])).toThrow(/name/);
  });
});
