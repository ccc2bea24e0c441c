import { connect, headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, postJson, readStream, send, startGateway } from './gateway-support.ts';
import { sensorEvents, type Platform } from './platform.ts';

describe('schema registry and quarantine', () => {
  let platform: Platform;
  let key: string;
  let otherTenant: string;
  beforeAll(async () => {
    platform = await startGateway();
    key = await createKey(platform, 'acme', ['ingest']);
    otherTenant = await createKey(platform, 'beta', ['ingest']);
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });
  const url = (path: string) => `${platform.ingestUrl}${path}`;

  it('serves every registered type and version as JSON Schema', async () => {
    const all = await send(url('/v1/schemas'), { key });
    expect(all.status).toBe(200);
    const sensor = all.body.types.find((t: any) => t.type === 'iot.sensor.reading');
    expect(sensor).toMatchObject({
      latest: 2,
      versions: [{ version: 1, id: 'urn:tideway:schema:iot.sensor.reading:1' }, { version: 2 }],
    });
    const doc = await send(url('/v1/schemas/iot.sensor.reading/1'), { key });
    expect(doc.headers.get('content-type')).toContain('application/schema+json');
    expect(doc.body).toMatchObject({ type: 'object', required: ['device_id', 'reading_value'] });
    expect((await send(url('/v1/schemas/no.such.type'), { key })).status).toBe(404);
    expect((await send(url('/v1/schemas'))).status).toBe(401);
  });

  it('checks a candidate version for backward compatibility', async () => {
    const breaking = {
      type: 'object',
      properties: { device_id: { type: 'string' }, reading_value: { type: 'string' } },
      required: ['device_id', 'reading_value', 'site'],
    };
    const res = await postJson(url('/v1/schemas/iot.sensor.reading/compatibility'), breaking, key);
    expect(res.body).toMatchObject({ compatible: false, against: 2 });
    expect(res.body.issues.map((i: any) => i.pointer)).toEqual(expect.arrayContaining(['/site', '/reading_value']));
    const fine = {
      type: 'object',
      properties: { device_id: { type: 'string' }, reading_value: { type: 'number' } },
      required: ['device_id'],
    };
    expect((await postJson(url('/v1/schemas/iot.sensor.reading/compatibility'), fine, key)).body.compatible).toBe(true);
  });

  it('validates against the latest version unless dataschema pins an older one', async () => {
    const [event] = sensorEvents(1, 'pin');
    const payload = { device_id: 'pin', reading_value: 1, battery_pct: 150 };
    const latest = await postJson(url('/v1/events'), { ...event, id: 'pin-latest', data: payload }, key);
    expect(latest.status).toBe(422);
    expect(latest.body.results[0]).toMatchObject({ status: 'quarantined', reason: 'schema' });
    const pinned = await postJson(
      url('/v1/events'),
      { ...event, id: 'pin-v1', data: payload, dataschema: 'urn:tideway:schema:iot.sensor.reading:1' },
      key,
    );
    expect(pinned.status).toBe(202);
    const quarantined = await send(url(`/v1/quarantine/${latest.body.results[0].quarantine_id as string}`), { key });
    expect(quarantined.body.schema).toEqual({ type: 'iot.sensor.reading', version: 2 });
  });

  it('quarantines invalid items with payload, headers, schema version and reasons; lists them; another tenant cannot see them', async () => {
    const good = sensorEvents(3, 'q');
    const bad = { ...good[1], data: { device_id: 'q-1', reading_value: 'hot' } };
    const res = await send(url('/v1/events'), {
      method: 'POST',
      key,
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-42' },
      body: JSON.stringify([good[0], bad, { ...good[2], specversion: '0.3' }]),
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ accepted: 1, quarantined: 2 });
    const ids = res.body.results
      .filter((r: any) => r.status === 'quarantined')
      .map((r: any) => r.quarantine_id as string);

    const item = await send(url(`/v1/quarantine/${ids[0] as string}`), { key });
    expect(item.status).toBe(200);
    expect(item.body).toMatchObject({
      id: ids[0],
      tenant: 'acme',
      status: 'open',
      reason: 'schema',
      channel: 'events',
      index: 1,
      schema: { type: 'iot.sensor.reading', version: 2 },
      content_type: 'application/json',
      payload_encoding: 'utf8',
      issues: [expect.objectContaining({ pointer: '/1/data/reading_value' })],
    });
    expect(JSON.parse(item.body.payload)).toEqual(bad);
    expect(item.body.request_headers['x-request-id']).toBe('req-42');
    expect(item.body.request_headers.authorization).toBeUndefined();

    const listed = await send(url('/v1/quarantine?limit=100'), { key });
    expect(listed.body.items.map((i: any) => i.id)).toEqual(expect.arrayContaining(ids));
    expect(listed.body.items.every((i: any) => i.tenant === 'acme')).toBe(true);
    const envelopeOnly = await send(url('/v1/quarantine?reason=envelope'), { key });
    expect(envelopeOnly.body.items.map((i: any) => i.id)).toEqual([ids[1]]);
    expect((await send(url(`/v1/quarantine/${ids[0] as string}`), { key: otherTenant })).status).toBe(404);
    expect((await send(url('/v1/quarantine'), { key: otherTenant })).body.items).toEqual([]);

    // a retry of the same request quarantines nothing twice
    const retry = await send(url('/v1/events'), {
      method: 'POST',
      key,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([good[0], bad]),
    });
    expect(retry.body.results[1].quarantine_id).toBe(ids[0]);
  });

  it('resubmits a correction once, linked to the original; rejects with a reason; refuses a second resolution', async () => {
    const bad = { ...sensorEvents(1, 'fix')[0], data: { device_id: 'fix-0', reading_value: 'warm' } };
    const res = await postJson(url('/v1/events'), bad, key);
    expect(res.status).toBe(422);
    const id = res.body.results[0].quarantine_id as string;

    const stillBad = await send(url(`/v1/quarantine/${id}/resubmit`), { method: 'POST', key });
    expect([stillBad.status, stillBad.body.code]).toEqual([400, 'invalid-event']);

    const corrected = { ...bad, data: { device_id: 'fix-0', reading_value: 21.5 } };
    const fixed = await postJson(url(`/v1/quarantine/${id}/resubmit`), corrected, key);
    expect(fixed.status).toBe(200);
    expect(fixed.body.resolution).toMatchObject({
      state: 'resubmitted',
      event: { id: 'fix-0', seq: expect.any(Number) },
    });
    const stored = (await readStream(platform, 'EVENTS')).find((m) => m.data.id === 'fix-0')!;
    expect(stored.headers?.get('Tw-Corrects')).toBe(id);
    expect(stored.seq).toBe(fixed.body.resolution.event.seq);
    expect((await send(url(`/v1/quarantine/${id}`), { key })).body).toMatchObject({
      status: 'resubmitted',
      resolution: { event: { id: 'fix-0' } },
    });
    const twice = await postJson(url(`/v1/quarantine/${id}/resubmit`), corrected, key);
    expect([twice.status, twice.body.code]).toEqual([409, 'conflict']);

    const other = await postJson(url('/v1/events'), { ...bad, id: 'fix-1' }, key);
    const otherId = other.body.results[0].quarantine_id as string;
    const rejected = await postJson(
      url(`/v1/quarantine/${otherId}/reject`),
      { reason: 'sensor was miscalibrated' },
      key,
    );
    expect(rejected.body).toMatchObject({ status: 'rejected', resolution: { reason: 'sensor was miscalibrated' } });
    expect((await postJson(url(`/v1/quarantine/${otherId}/reject`), { reason: 'again' }, key)).status).toBe(409);
    const open = await send(url('/v1/quarantine?status=open&limit=500'), { key });
    expect(open.body.items.map((i: any) => i.id)).not.toContain(otherId);
    expect(open.body.items.map((i: any) => i.id)).not.toContain(id);
  });

  it('quarantines bad NDJSON lines and reports them per line', async () => {
    const lines = [
      JSON.stringify(sensorEvents(1, 'nd')[0]),
      '{"specversion": "1.0", broken',
      JSON.stringify({ ...sensorEvents(2, 'nd')[1], data: { device_id: 'nd-1' } }),
      '',
      JSON.stringify(sensorEvents(3, 'nd')[2]),
    ].join('\n');
    const res = await send(url('/v1/events'), {
      method: 'POST',
      key,
      headers: { 'content-type': 'application/x-ndjson' },
      body: lines,
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ items: 4, accepted: 2, quarantined: 2, failed: 0 });
    expect(res.body.failures.map((f: any) => [f.index, f.status, f.reason])).toEqual([
      [2, 'quarantined', 'unparseable'],
      [3, 'quarantined', 'schema'],
    ]);
    const raw = await send(url(`/v1/quarantine/${res.body.failures[0].quarantine_id as string}`), { key });
    expect(raw.body).toMatchObject({ payload: '{"specversion": "1.0", broken', channel: 'ndjson' });
  });

  it('shows items other writers quarantined (a projection’s poison message) as channel internal', async () => {
    const nc = await connect({ servers: platform.env['NATS_URL']! });
    try {
      const h = headers();
      h.set('Tw-Reason', 'the warm store cannot hold this event');
      h.set('Nats-Msg-Id', 'poison-1');
      const ack = await nc.request(
        `${platform.namespace.subjectRoot}.quarantine.acme.projection-warm`,
        JSON.stringify({ id: 'poison' }),
        { headers: h, timeout: 5_000 },
      );
      const seq = String(ack.json<{ seq: number }>().seq);
      const item = await send(url(`/v1/quarantine/${seq}`), { key });
      expect(item.body).toMatchObject({
        id: seq,
        tenant: 'acme',
        channel: 'internal',
        reason: 'projection-warm',
        payload: '{"id":"poison"}',
        issues: [{ message: 'the warm store cannot hold this event' }],
      });
    } finally {
      await nc.close();
    }
  });
});
