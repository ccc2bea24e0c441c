import { CloudEvent, HTTP, type Message } from 'cloudevents';
import { ErrorCode, TidewayError } from '@tideway/events';
import { describe, expect, it } from 'vitest';
import { cloudEventsMode, parseCloudEvents } from './cloudevents.ts';
import type { ProducerRequest } from './request.ts';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** What the SDK hands to an HTTP client, as a gateway would receive it. */
function asRequest(message: Message): ProducerRequest {
  const body = message.body;
  return {
    headers: message.headers,
    body: typeof body === 'string' ? body : body instanceof Uint8Array ? body : JSON.stringify(body),
  };
}

function sensorEvent(overrides: Record<string, unknown> = {}): CloudEvent<unknown> {
  return new CloudEvent<unknown>({
    id: 'evt-1',
    source: '/sensors/hall',
    type: 'iot.sensor.reading',
    subject: 'device-7',
    time: '2025-03-01T12:00:00.000Z',
    datacontenttype: 'application/json',
    data: { device_id: 'device-7', reading_value: 21.5, unit: 'C' },
    tenant: 'acme',
    partitionkey: 'device-7',
    traceparent: TRACEPARENT,
    correlationid: 'flow-9',
    ...overrides,
  });
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

const expectedAttributes = {
  specversion: '1.0',
  id: 'evt-1',
  source: '/sensors/hall',
  type: 'iot.sensor.reading',
  subject: 'device-7',
  time: '2025-03-01T12:00:00.000Z',
  data: { device_id: 'device-7', reading_value: 21.5, unit: 'C' },
  tenant: 'acme',
  partitionkey: 'device-7',
  traceparent: TRACEPARENT,
  correlationid: 'flow-9',
};

describe('parseCloudEvents', () => {
  it('recovers every attribute of an SDK structured-mode event', () => {
    const request = asRequest(HTTP.structured(sensorEvent()));
    expect(cloudEventsMode(request)).toBe('structured');
    expect(parseCloudEvents(request)).toEqual([{ ...expectedAttributes, datacontenttype: 'application/json' }]);
  });

  it('recovers every attribute of an SDK binary-mode event, content type included', () => {
    const request = asRequest(HTTP.binary(sensorEvent()));
    expect(cloudEventsMode(request)).toBe('binary');
    const [event] = parseCloudEvents(request);
    expect(event).toMatchObject(expectedAttributes);
    expect(event?.datacontenttype).toMatch(/^application\/json/);
  });

  it('reads binary mode from a fetch Headers object and a byte body', () => {
    const message = HTTP.binary(sensorEvent());
    const headers = new Headers();
    for (const [name, value] of Object.entries(message.headers))
      if (typeof value === 'string') headers.set(name, value);
    const [event] = parseCloudEvents({ headers, body: new TextEncoder().encode(message.body as string) });
    expect(event).toMatchObject(expectedAttributes);
  });

  it('keeps binary data as base64 in data, in binary and structured mode alike', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const event = sensorEvent({ type: 'files.blob.stored', datacontenttype: 'application/octet-stream', data: bytes });
    const binary = parseCloudEvents(asRequest(HTTP.binary(event)));
    const structured = parseCloudEvents(asRequest(HTTP.structured(event)));
    for (const [parsed] of [binary, structured]) {
      expect(parsed?.datacontenttype).toBe('application/octet-stream');
      expect(Buffer.from(parsed?.data as string, 'base64')).toEqual(bytes);
    }
  });

  it('keeps text data as a string', () => {
    const event = sensorEvent({ type: 'logs.line', datacontenttype: 'text/plain', data: 'disk almost full' });
    expect(parseCloudEvents(asRequest(HTTP.binary(event)))[0]?.data).toBe('disk almost full');
    expect(parseCloudEvents(asRequest(HTTP.structured(event)))[0]?.data).toBe('disk almost full');
  });

  it('reads a batch, reporting issues with the item index in the pointer', () => {
    const good = sensorEvent().toJSON();
    const batch = {
      headers: { 'Content-Type': 'application/cloudevents-batch+json' },
      body: JSON.stringify([good, good]),
    };
    expect(parseCloudEvents(batch)).toHaveLength(2);

    const bad = { ...good, type: 'not a type' };
    const error = thrown(() => parseCloudEvents({ ...batch, body: JSON.stringify([good, bad]) }));
    expect(error.code).toBe(ErrorCode.InvalidEvent);
    expect(error.details.issues).toEqual([expect.objectContaining({ index: 1, pointer: '/1/type' })]);
  });

  it('validates the payload of a registered type', () => {
    const event = sensorEvent({ data: { device_id: 'device-7', reading_value: 'warm' } });
    const error = thrown(() => parseCloudEvents(asRequest(HTTP.structured(event))));
    expect(error.details.issues).toEqual([expect.objectContaining({ pointer: '/data/reading_value' })]);
  });

  it('reads plain application/json: one object or an array', () => {
    const one = { specversion: '1.0', source: 'checkout', type: 'commerce.cart.viewed', data: { cart: 1 } };
    const headers = { 'content-type': 'application/json; charset=utf-8' };
    expect(parseCloudEvents({ headers, body: JSON.stringify(one) })).toEqual([one]);
    expect(parseCloudEvents({ headers, body: JSON.stringify([one, one, one]) })).toHaveLength(3);
    expect(thrown(() => parseCloudEvents({ headers, body: '[]' })).code).toBe(ErrorCode.EmptyBatch);
    expect(thrown(() => parseCloudEvents({ headers, body: JSON.stringify([one, one]) }, { maxEvents: 1 })).code).toBe(
      ErrorCode.BatchTooLarge,
    );
    expect(thrown(() => parseCloudEvents({ headers, body: '{"specversion":' })).code).toBe(ErrorCode.InvalidBody);
    expect(thrown(() => parseCloudEvents({ headers, body: '"text"' })).code).toBe(ErrorCode.InvalidBody);
  });

  it('rejects an unknown extension with an issue naming it, or drops it when told to', () => {
    const event = sensorEvent({ region: 'eu' });
    for (const message of [HTTP.structured(event), HTTP.binary(event)]) {
      const error = thrown(() => parseCloudEvents(asRequest(message)));
      expect(error.code).toBe(ErrorCode.InvalidEvent);
      expect(error.details.issues).toEqual([
        expect.objectContaining({ pointer: '/region', message: expect.stringContaining('"region"') as string }),
      ]);
      const [parsed] = parseCloudEvents(asRequest(message), { unknownExtensions: 'drop' });
      expect(parsed).toMatchObject(expectedAttributes);
      expect(parsed).not.toHaveProperty('region');
    }
  });

  it('names the ce-* header a binary-mode issue comes from', () => {
    const message = HTTP.binary(sensorEvent());
    const error = thrown(() =>
      parseCloudEvents(asRequest({ ...message, headers: { ...message.headers, 'ce-type': 'bad type!' } })),
    );
    expect(error.details.issues).toEqual([
      expect.objectContaining({ pointer: '/type', message: expect.stringMatching(/^ce-type header: /) as string }),
    ]);
  });

  it('percent-decodes ce-* header values', () => {
    const message = HTTP.binary(sensorEvent());
    const [event] = parseCloudEvents(
      asRequest({ ...message, headers: { ...message.headers, 'ce-subject': 'caf%C3%A9 100%25' } }),
    );
    expect(event?.subject).toBe('café 100%');
  });

  it('refuses a binary-mode body that is not JSON when the content type says JSON', () => {
    const message = HTTP.binary(sensorEvent());
    expect(thrown(() => parseCloudEvents({ headers: message.headers, body: '{not json' })).code).toBe(
      ErrorCode.InvalidBody,
    );
  });

  it('refuses requests in no CloudEvents mode', () => {
    const error = thrown(() => parseCloudEvents({ headers: { 'content-type': 'text/plain' }, body: 'hello' }));
    expect(error.code).toBe(ErrorCode.UnsupportedMediaType);
    expect(error.status).toBe(415);
    expect(cloudEventsMode({ headers: { 'content-type': 'application/cloudevents+xml' } })).toBeUndefined();
  });

  it('rejects data together with data_base64, and malformed base64', () => {
    const headers = { 'content-type': 'application/cloudevents+json' };
    const base = { specversion: '1.0', source: 's', type: 't' };
    const both = thrown(() =>
      parseCloudEvents({ headers, body: JSON.stringify({ ...base, data: 1, data_base64: 'AA==' }) }),
    );
    expect(both.details.issues).toEqual([expect.objectContaining({ pointer: '/data_base64' })]);
    const malformed = thrown(() =>
      parseCloudEvents({ headers, body: JSON.stringify({ ...base, data_base64: 'not base64!' }) }),
    );
    expect(malformed.details.issues).toEqual([expect.objectContaining({ pointer: '/data_base64' })]);
  });
});
