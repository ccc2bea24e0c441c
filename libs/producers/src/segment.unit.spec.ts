import { Analytics, type HTTPClient, type HTTPClientRequest } from '@segment/analytics-node';
import { ErrorCode, TidewayError } from '@tideway/events';
import { describe, expect, it } from 'vitest';
import { parseSegment, segmentWriteKey } from './segment.ts';

/** Runs `@segment/analytics-node` against a client that records its requests instead of sending them. */
async function captureRequests(calls: (analytics: Analytics) => void): Promise<HTTPClientRequest[]> {
  const requests: HTTPClientRequest[] = [];
  const httpClient: HTTPClient = {
    makeRequest: async (request) => {
      requests.push(request);
      return { status: 200, statusText: 'OK' };
    },
  };
  const analytics = new Analytics({ writeKey: 'wk_live_123', httpClient, flushAt: 100, maxRetries: 0 });
  calls(analytics);
  await analytics.closeAndFlush();
  return requests;
}

function thrown(fn: () => unknown): TidewayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TidewayError) return error;
    throw error;
  }
  throw new Error('expected a TidewayError');
}

const at = new Date('2025-03-01T12:00:00.000Z');
const receivedAt = new Date('2025-03-01T12:00:05.000Z');

describe('parseSegment with what @segment/analytics-node sends', () => {
  it('maps every call of a real batch request', async () => {
    const [request, ...more] = await captureRequests((analytics) => {
      analytics.track({
        userId: 'u1',
        event: 'Order Completed',
        properties: { total: 30 },
        timestamp: at,
        messageId: 'm-track',
      });
      analytics.identify({ userId: 'u1', traits: { plan: 'pro' }, timestamp: at, messageId: 'm-identify' });
      analytics.page({ anonymousId: 'anon-1', name: 'Pricing', timestamp: at, messageId: 'm-page' });
      analytics.screen({ userId: 'u1', name: 'Home', timestamp: at, messageId: 'm-screen' });
      analytics.group({ userId: 'u1', groupId: 'g1', traits: { name: 'Acme' }, timestamp: at, messageId: 'm-group' });
      analytics.alias({ userId: 'u1', previousId: 'anon-1', timestamp: at, messageId: 'm-alias' });
    });
    expect(more).toHaveLength(0);
    expect(request?.url).toMatch(/\/v1\/batch$/);
    expect(segmentWriteKey({ headers: request!.headers, body: request!.body })).toBe('wk_live_123');

    const events = parseSegment({ headers: request!.headers, body: request!.body }, { endpoint: 'batch', receivedAt });
    expect(events.map((e) => [e.type, e.id, e.subject, e.time])).toEqual([
      ['segment.track', 'm-track', 'u1', at.toISOString()],
      ['segment.identify', 'm-identify', 'u1', at.toISOString()],
      ['segment.page', 'm-page', 'anon-1', at.toISOString()],
      ['segment.screen', 'm-screen', 'u1', at.toISOString()],
      ['segment.group', 'm-group', 'u1', at.toISOString()],
      ['segment.alias', 'm-alias', 'u1', at.toISOString()],
    ]);
    const [track] = events;
    expect(track).toMatchObject({ specversion: '1.0', source: 'segment', datacontenttype: 'application/json' });
    expect(track?.data).toMatchObject({
      type: 'track',
      event: 'Order Completed',
      properties: { total: 30 },
      context: { library: { name: '@segment/analytics-node' } },
    });
    expect(JSON.stringify(events)).not.toContain('wk_live_123');
  });

  it('keeps the generated messageId, so a retried batch de-duplicates', async () => {
    const [request] = await captureRequests((analytics) => analytics.track({ anonymousId: 'a', event: 'Clicked' }));
    const body = JSON.parse(request!.body) as { batch: { messageId: string }[] };
    const [event] = parseSegment({ headers: request!.headers, body: request!.body }, { endpoint: 'batch' });
    expect(event?.id).toBe(body.batch[0]?.messageId);
    expect(event?.id).toBeTruthy();
  });
});

describe('parseSegment', () => {
  const headers = { 'content-type': 'application/json' };

  it('reads the single-call endpoints, filling in the type', () => {
    const body = JSON.stringify({
      userId: '42',
      event: 'Signed Up',
      timestamp: '2025-03-01T13:00:00+01:00',
      writeKey: 'wk',
    });
    const [event] = parseSegment({ headers, body }, { endpoint: 'track', source: 'web' });
    expect(event).toMatchObject({ type: 'segment.track', subject: '42', source: 'web', time: at.toISOString() });
    expect(event?.data).toEqual({
      userId: '42',
      event: 'Signed Up',
      timestamp: '2025-03-01T13:00:00+01:00',
      type: 'track',
    });
  });

  it('corrects the producer clock skew from sentAt when there is no timestamp', () => {
    // The device clock is 1 h fast: it sent 1 min after the event, by its clock.
    const body = JSON.stringify({
      batch: [{ type: 'track', userId: 'u', event: 'E', originalTimestamp: '2025-03-01T13:00:00.000Z' }],
      sentAt: '2025-03-01T13:01:00.000Z',
    });
    const [event] = parseSegment({ headers, body }, { endpoint: 'batch', receivedAt });
    expect(event?.time).toBe('2025-03-01T11:59:05.000Z');
    const [received] = parseSegment(
      { headers, body: JSON.stringify({ batch: [{ type: 'identify', userId: 'u' }] }) },
      { endpoint: 'batch', receivedAt },
    );
    expect(received?.time).toBe(receivedAt.toISOString());
  });

  it('merges the batch context and integrations under each message', () => {
    const body = JSON.stringify({
      batch: [{ type: 'identify', userId: 'u', context: { ip: '10.0.0.1' } }],
      context: { library: { name: 'custom' }, ip: '0.0.0.0' },
      integrations: { All: false },
    });
    const [event] = parseSegment({ headers, body }, { endpoint: 'batch' });
    expect(event?.data).toMatchObject({
      context: { library: { name: 'custom' }, ip: '10.0.0.1' },
      integrations: { All: false },
    });
  });

  it('points at every bad message of a batch', () => {
    const body = JSON.stringify({
      batch: [
        { type: 'track', userId: 'u', event: 'ok' },
        { type: 'track', event: 'no identity' },
        { type: 'launch', userId: 'u' },
        { type: 'track', userId: 'u', timestamp: 'yesterday', event: 'E' },
        { type: 'group', userId: 'u' },
      ],
    });
    const error = thrown(() => parseSegment({ headers, body }, { endpoint: 'batch' }));
    expect(error.code).toBe(ErrorCode.InvalidEvent);
    expect(error.details.issues?.map((i) => [i.index, i.pointer])).toEqual([
      [1, '/batch/1/userId'],
      [2, '/batch/2/type'],
      [3, '/batch/3/timestamp'],
      [4, '/batch/4/groupId'],
    ]);
  });

  it('refuses a type that contradicts the endpoint, and bodies that are not Segment payloads', () => {
    const wrongType = thrown(() =>
      parseSegment({ headers, body: JSON.stringify({ type: 'page', userId: 'u' }) }, { endpoint: 'identify' }),
    );
    expect(wrongType.details.issues).toEqual([expect.objectContaining({ pointer: '/type' })]);
    expect(thrown(() => parseSegment({ headers, body: '{"batch":{}}' }, { endpoint: 'batch' })).code).toBe(
      ErrorCode.InvalidBody,
    );
    expect(thrown(() => parseSegment({ headers, body: '{"batch":[]}' }, { endpoint: 'batch' })).code).toBe(
      ErrorCode.EmptyBatch,
    );
    expect(thrown(() => parseSegment({ headers, body: '[1]' }, { endpoint: 'batch' })).code).toBe(
      ErrorCode.InvalidBody,
    );
  });
});

describe('segmentWriteKey', () => {
  const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });

  it('reads the user name of Basic auth, else the body', () => {
    expect(segmentWriteKey({ headers: basic('wk_1:'), body: '' })).toBe('wk_1');
    expect(segmentWriteKey({ headers: new Headers(basic('wk_2:ignored')), body: '' })).toBe('wk_2');
    expect(segmentWriteKey({ headers: {}, body: JSON.stringify({ writeKey: 'wk_3', batch: [] }) })).toBe('wk_3');
  });

  it('finds none in a Bearer token, an empty user name or a body without one', () => {
    expect(segmentWriteKey({ headers: { authorization: 'Bearer abc' }, body: '{}' })).toBeUndefined();
    expect(segmentWriteKey({ headers: basic(':secret'), body: '{}' })).toBeUndefined();
    expect(segmentWriteKey({ headers: {}, body: 'not json writeKey' })).toBeUndefined();
  });
});
