import { describe, expect, it } from 'vitest';
import { dedupeId, EventEnvelopeSchema, EventInputSchema, fnv1a32, partitionOf, toEnvelope, type EventInput } from './index.ts';

// Ids and partitions of events already stored must not change with the code that computes them: these values were
// computed by the earlier implementations (`createHash().update()…`, FNV-1a over `Buffer.from(key)`).
describe('stored identifiers stay stable', () => {
  it('computes the same de-duplication id as before', () => {
    expect(dedupeId('acme', 'urn:x', 'id-1')).toBe('XM4asJizqMvHshS8k3hUHExj5Uy9rcVQkI8i119RZxU');
  });

  it('hashes partition keys over their UTF-8 bytes, ASCII or not', () => {
    expect(fnv1a32('')).toBe(2166136261);
    expect(fnv1a32('sensor-001')).toBe(1342001753);
    expect(fnv1a32('ключ-7')).toBe(1338442217);
    expect(fnv1a32('a\uD800b')).toBe(1982953453); // a lone surrogate encodes as U+FFFD
    expect(partitionOf('sensor-001', 16)).toBe(1342001753 % 16);
  });
});

describe('toEnvelope', () => {
  const receivedAt = new Date('2026-01-02T03:04:05.678Z');

  it('fills in what the producer omitted and keeps only the attributes it sent', () => {
    const input: EventInput = { specversion: '1.0', source: 'urn:s', type: 'a.b', data: { x: 1 } };
    const envelope = toEnvelope(input, 'acme', receivedAt);
    expect(envelope).toStrictEqual({
      specversion: '1.0',
      id: envelope.id,
      source: 'urn:s',
      type: 'a.b',
      time: '2026-01-02T03:04:05.678Z',
      datacontenttype: 'application/json',
      tenant: 'acme',
      partitionkey: 'urn:s',
      recordedtime: '2026-01-02T03:04:05.678Z',
      data: { x: 1 },
    });
    expect(envelope.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(EventEnvelopeSchema.safeParse(envelope).success).toBe(true);
  });

  it('keeps every attribute the producer sent, and a later receive time is not served from the last one', () => {
    const input: EventInput = {
      specversion: '1.0',
      id: 'e-1',
      source: 'urn:s',
      type: 'a.b',
      subject: 'dev-1',
      time: '2025-12-31T23:59:59Z',
      datacontenttype: 'text/plain',
      dataschema: 'urn:tideway:schema:a.b:1',
      data: 'hello',
      tenant: 'acme',
      partitionkey: 'pk',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'k=v',
      causationid: 'c-1',
      correlationid: 'r-1',
    };
    // Every attribute the schema accepts is in this input: an attribute added to the schema fails here until
    // toEnvelope (which lists the attributes it copies) and this input carry it.
    expect(Object.keys(input).sort()).toEqual(Object.keys(EventInputSchema.shape).sort());
    const later = new Date(receivedAt.getTime() + 1);
    expect(toEnvelope(input, 'acme', later)).toStrictEqual({ ...input, recordedtime: '2026-01-02T03:04:05.679Z' });
    expect(toEnvelope({ ...input, partitionkey: undefined }, 'acme', receivedAt).partitionkey).toBe('dev-1');
  });
});
