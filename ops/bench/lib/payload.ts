/**
 * The benchmark's payloads: sensor readings shaped like the demo's (`iot.sensor.reading`, ~200 bytes of JSON as a
 * producer sends them), and the stored envelopes the gateway makes of them — the same bytes every raw reference
 * publishes, consumes or copies.
 */
import { dedupeId, eventSubject, toEnvelope, type EventEnvelope, type EventInput, type SubjectScheme } from '@tideway/events';

export const TENANT = 'default';
export const DEVICES = 50;
/** Event time of reading 0 of a generated series; readings advance one second per round of all devices. */
export const BASE_TIME = Date.UTC(2026, 0, 1);

export function deviceId(n: number): string {
  return `sensor-${String(n % DEVICES).padStart(3, '0')}`;
}

/** A reading's value: 20–80 with a fault (a spike) every 499th reading. */
export function readingValue(i: number): number {
  return i % 499 === 498 ? 131.5 : 20 + ((i * 7919) % 6000) / 100;
}

/** One reading as a producer posts it (JSON text, ~200 bytes). `time` undefined: the gateway stamps it. */
export function sensorJson(id: string, i: number, time: string | undefined): string {
  const d = deviceId(i);
  return `{"specversion":"1.0","id":"${id}","source":"urn:tideway:demo:sensors","type":"iot.sensor.reading","subject":"${d}",${
    time === undefined ? '' : `"time":"${time}",`
  }"data":{"device_id":"${d}","reading_value":${readingValue(i)},"unit":"celsius"}}`;
}

/** Event time of reading i of a series starting at `start` (ms). */
export function readingTime(i: number, start = BASE_TIME): string {
  return new Date(start + Math.floor(i / DEVICES) * 1000).toISOString();
}

/** A JSON array body of `n` readings with ids `<prefix>-<k>`. */
export function batchBody(prefix: string, first: number, n: number, time?: (i: number) => string | undefined): string {
  const parts: string[] = [];
  for (let i = first; i < first + n; i++) parts.push(sensorJson(`${prefix}-${i}`, i, time ? time(i) : readingTime(i)));
  return `[${parts.join(',')}]`;
}

/** The stored envelope of reading i, exactly as the gateway would publish it. */
export function storedEnvelope(prefix: string, i: number, start = BASE_TIME): EventEnvelope {
  const input = JSON.parse(sensorJson(`${prefix}-${i}`, i, readingTime(i, start))) as EventInput;
  return toEnvelope(input, TENANT, new Date(start + Math.floor(i / DEVICES) * 1000 + 5));
}

/** A message ready to publish: subject, payload and `Nats-Msg-Id`, as the gateway computes them. */
export interface PreparedMessage {
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly msgId: string;
}

const encoder = new TextEncoder();

export function preparedMessages(scheme: SubjectScheme, prefix: string, count: number, start = BASE_TIME): PreparedMessage[] {
  const out: PreparedMessage[] = new Array<PreparedMessage>(count);
  for (let i = 0; i < count; i++) {
    const e = storedEnvelope(prefix, i, start);
    out[i] = { subject: eventSubject(scheme, e.tenant, e.type, e.partitionkey), payload: encoder.encode(JSON.stringify(e)), msgId: dedupeId(e.tenant, e.source, e.id) };
  }
  return out;
}
