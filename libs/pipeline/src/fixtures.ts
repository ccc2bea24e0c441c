/**
 * Test fixtures (exported from `@tideway/pipeline/internal`): a reproducible stream of sensor-reading envelopes
 * with faults and every kind of bad input a pipeline must survive, plus the demo pipeline's shape.
 */
import { eventSubject, type EventEnvelope, type SubjectScheme } from '@tideway/events';
import type { PipelineSpecInput } from './spec.ts';

/** mulberry32: a small seeded PRNG, so fixtures are identical on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One message to put on the EVENTS stream: its subject and bytes. */
export interface FixtureMessage {
  readonly subject: string;
  readonly payload: Uint8Array;
  /** What kind of input it is, for assertions. */
  readonly label: 'reading' | 'spike' | 'non-numeric' | 'missing-value' | 'missing-key' | 'future' | 'schema' | 'late' | 'malformed' | 'duplicate';
  /** Stable id of the fixture message (used as `Nats-Msg-Id`). */
  readonly msgId: string;
}

/** Options of {@link sensorFixture}. */
export interface SensorFixtureOptions {
  readonly scheme: SubjectScheme;
  readonly tenant?: string;
  readonly devices?: number;
  /** Readings per device. */
  readonly readings?: number;
  /** Event-time step between two consecutive readings of the stream (all devices interleaved). */
  readonly stepMs?: number;
  readonly start?: number;
  readonly seed?: number;
  /** Include bad inputs (non-numeric, missing value/key, future, schema, late, malformed, duplicates). Default true. */
  readonly bad?: boolean;
  /** Prefix of the event ids, so several fixtures can go to one stream without colliding. Default ''. */
  readonly idPrefix?: string;
}

const encoder = new TextEncoder();

/**
 * Sensor readings in stream order: devices report round-robin with slight out-of-order jitter (well inside a
 * 5 s bound), each around its own baseline; some readings spike; and, when `bad` is set, bad inputs are mixed in.
 */
export function sensorFixture(options: SensorFixtureOptions): FixtureMessage[] {
  const tenant = options.tenant ?? 'acme';
  const devices = options.devices ?? 12;
  const readings = options.readings ?? 200;
  const stepMs = options.stepMs ?? 500;
  const start = options.start ?? Date.UTC(2026, 0, 5, 8, 0, 0);
  const random = seededRandom(options.seed ?? 7);
  const bad = options.bad ?? true;
  const baselines = Array.from({ length: devices }, () => 30 + random() * 40);
  const out: FixtureMessage[] = [];
  const type = 'iot.sensor.reading';
  let n = 0;
  const envelope = (device: string, time: number, data: Record<string, unknown>, extra: Partial<EventEnvelope> = {}): EventEnvelope => ({
    specversion: '1.0',
    id: `${options.idPrefix ?? ''}${device}-${n}`,
    source: 'urn:test:sensors',
    type,
    subject: device,
    time: new Date(time).toISOString(),
    datacontenttype: 'application/json',
    data,
    tenant,
    partitionkey: device,
    recordedtime: new Date(start + n * stepMs + 50).toISOString(),
    ...extra,
  });
  const push = (label: FixtureMessage['label'], device: string, event: EventEnvelope | string): void => {
    out.push({
      subject: eventSubject(options.scheme, tenant, type, device),
      payload: encoder.encode(typeof event === 'string' ? event : JSON.stringify(event)),
      label,
      msgId: `fixture-${out.length}`,
    });
  };
  for (let i = 0; i < readings; i++) {
    for (let d = 0; d < devices; d++) {
      n++;
      const device = `sensor-${String(d).padStart(3, '0')}`;
      const jitter = Math.floor(random() * 1500) - 750;
      const time = start + n * stepMs + jitter;
      const spike = i > 120 && random() < 0.01;
      const value = spike ? 140 + random() * 60 : Math.round((baselines[d]! + Math.sin(i / 15) * 4 + (random() - 0.5) * 3) * 100) / 100;
      push(spike ? 'spike' : 'reading', device, envelope(device, time, { device_id: device, reading_value: value, unit: 'celsius' }));
      if (!bad || random() > 0.02) continue;
      const kind = Math.floor(random() * 8);
      n++;
      const t = start + n * stepMs;
      if (kind === 0) push('non-numeric', device, envelope(device, t, { device_id: device, reading_value: 'n/a' }));
      else if (kind === 1) push('missing-value', device, envelope(device, t, { device_id: device }));
      else if (kind === 2) push('missing-key', device, envelope(device, t, { reading_value: 42 }));
      else if (kind === 3) push('future', device, envelope(device, t + 3 * 86_400_000, { device_id: device, reading_value: 42 }));
      else if (kind === 4) push('schema', device, envelope(device, t, { device_id: device, reading_value: 42 }, { dataschema: 'urn:tideway:schema:iot.sensor.reading:v9' }));
      else if (kind === 5) push('late', device, envelope(device, t - 3_600_000, { device_id: device, reading_value: 42 }));
      else if (kind === 6) push('malformed', device, `{"specversion":"1.0","id":"broken-${n}",`);
      else {
        const previous = out.findLast((m) => m.label === 'reading' && m.subject === eventSubject(options.scheme, tenant, type, device));
        if (previous) out.push({ ...previous, label: 'duplicate', msgId: `fixture-${out.length}` });
      }
    }
  }
  return out;
}

/** The demo's sensor pipeline: 1-minute stats per device, and anomaly scoring of the readings with alerts. */
export const sensorPipelineFixture: PipelineSpecInput = {
  name: 'sensor-readings',
  source: { type: 'iot.sensor.reading', dataschemas: ['urn:tideway:schema:iot.sensor.reading:v1'] },
  key: 'data.device_id',
  value: 'data.reading_value',
  time: { maxOutOfOrdernessMs: 5_000, allowedLatenessMs: 0, maxFutureMs: 86_400_000 },
  dedupe: { maxIds: 500 },
  windows: [{ name: 'stats-1m', window: { type: 'tumbling', sizeMs: 60_000 }, aggregate: 'stats' }],
  anomaly: { name: 'anomaly', threshold: 0.5, alerts: { cooldownMs: 120_000 } },
};
