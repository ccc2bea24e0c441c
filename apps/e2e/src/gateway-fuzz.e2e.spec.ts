import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, startGateway } from './gateway-support.ts';
import type { Platform } from './platform.ts';

const PROBLEM = 'https://tideway.dev/problems/';

const paths = [
  '/v1/events',
  '/v1/batch',
  '/v1/track',
  '/v1/identify',
  '/v1/webhooks/gh',
  '/v1/webhooks/nope',
  '/v1/uploads?type=misc.fuzz&format=csv',
  '/v1/uploads?type=misc.fuzz&format=json',
  '/v1/uploads?type=misc.fuzz&format=parquet',
  '/v1/quarantine/1/resubmit',
  '/v1/quarantine/999999/reject',
  '/v1/schemas/iot.sensor.reading/compatibility',
  '/v1/keys',
];

const contentTypes = [
  'application/json',
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'application/x-ndjson',
  'text/csv',
  'text/plain',
  'application/octet-stream',
  'application/json; charset=latin1',
  '',
];

const encoder = new TextEncoder();

/** Bodies from plausible to hostile: JSON values, CloudEvent-shaped objects with random fields, bytes, deep nesting. */
const body: fc.Arbitrary<Uint8Array | string> = fc.oneof(
  fc.json().map((s) => s),
  fc.string({ unit: 'grapheme' }),
  fc.uint8Array({ maxLength: 2048 }),
  fc
    .record(
      {
        specversion: fc.oneof(fc.constant('1.0'), fc.jsonValue()),
        id: fc.oneof(fc.string(), fc.jsonValue()),
        source: fc.oneof(fc.string(), fc.jsonValue()),
        type: fc.oneof(fc.constantFrom('iot.sensor.reading', 'commerce.order.placed', 'x'), fc.string()),
        time: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string(),
        ),
        tenant: fc.oneof(fc.constant('acme'), fc.constant('beta'), fc.string()),
        data: fc.jsonValue(),
        data_base64: fc.string(),
        datacontenttype: fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'x/y'),
        dataschema: fc.oneof(fc.constant('urn:tideway:schema:iot.sensor.reading:7'), fc.string()),
      },
      { requiredKeys: [] },
    )
    .chain((event) =>
      fc.constantFrom(
        JSON.stringify(event),
        JSON.stringify([event, event]),
        JSON.stringify({ batch: [event] }),
        `${JSON.stringify(event)}\n${JSON.stringify(event)}\n`,
      ),
    ),
  fc.integer({ min: 1, max: 200_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc
    .integer({ min: 1, max: 50_000 })
    .map(
      (depth) => `{"specversion":"1.0","source":"s","type":"t","data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
    ),
  fc.constantFrom(
    '\u0000',
    '\uFEFF{}',
    '{"a":1}garbage',
    'null',
    '[]',
    '{}',
    '"\\ud800"',
    '1e999',
    '-0',
    '[' + '1,'.repeat(10_000) + '1]',
  ),
);

const headerName = fc.oneof(
  fc.constantFrom(
    'ce-id',
    'ce-source',
    'ce-type',
    'ce-specversion',
    'ce-tenant',
    'ce-data',
    'ce-x',
    'x-hub-signature-256',
    'x-github-event',
    'stripe-signature',
  ),
  fc.stringMatching(/^ce-[a-z]{1,12}$/),
);
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/);

describe('hostile and random requests (fast-check)', () => {
  let platform: Platform;
  let key: string;
  beforeAll(async () => {
    platform = await startGateway({
      env: {
        INGEST_WEBHOOKS: JSON.stringify([{ name: 'gh', scheme: 'github', secret: 'fuzz' }]),
        INGEST_RATE_LIMIT_PER_SECOND: '0',
      },
    });
    key = await createKey(platform, 'acme', ['ingest', 'admin']);
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  it('answers every request with a 2xx or a problem+json 4xx/5xx, never a crash or a hang', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.oneof(fc.constantFrom(...contentTypes), fc.string({ maxLength: 40 })),
        body,
        fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
        fc.oneof({ arbitrary: fc.constant('key'), weight: 8 }, fc.constantFrom('none', 'garbage', 'basic')),
        async (path, contentType, payload, extra, auth) => {
          const headers = new Headers();
          for (const [name, value] of extra) headers.set(name, value);
          if (/^[\x20-\x7e]*$/.test(contentType) && contentType !== '') headers.set('content-type', contentType);
          if (auth === 'key') headers.set('authorization', `Bearer ${key}`);
          if (auth === 'garbage') headers.set('authorization', 'Bearer \u00ff'.replace('\u00ff', 'x'.repeat(5000)));
          if (auth === 'basic') headers.set('authorization', `Basic ${Buffer.from(`${key}:`).toString('base64')}`);
          const response = await fetch(`${platform.ingestUrl}${path}`, {
            method: 'POST',
            headers,
            body: typeof payload === 'string' ? encoder.encode(payload) : payload,
            signal: AbortSignal.timeout(20_000),
          });
          const text = await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status >= 200 && response.status < 300) return;
          expect(response.status, text.slice(0, 300)).not.toBe(500);
          expect(response.status).toBeGreaterThanOrEqual(400);
          expect(response.headers.get('content-type'), `${response.status} ${text.slice(0, 200)}`).toContain(
            'application/problem+json',
          );
          const problem = JSON.parse(text) as { type: string; status: number; title: string };
          expect(problem.type.startsWith(PROBLEM)).toBe(true);
          expect(problem.status).toBe(response.status);
          expect(typeof problem.title).toBe('string');
        },
      ),
      { numRuns: 600, interruptAfterTimeLimit: 150_000 },
    );
    console.log(`fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    expect((await fetch(`${platform.ingestUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${platform.ingestUrl}/readyz`)).status).toBe(200);
  }, 200_000);
});
