/**
 * Event builders for the hot store's tests (stored events as the projection runner hands them over). Derived
 * events carry complete payloads of the `@tideway/events` derived schemas.
 */
import { DerivedEventType, type EventEnvelope, type StoredEvent } from '@tideway/events';

/** A fixed "now" for one test file, so derived items are recent (TTLs keep them) and deterministic. */
export function testClock(): number {
  return Math.floor(Date.now() / 60_000) * 60_000;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const lineage = (seq: number) => ({ partition: 0, firstSeq: seq, lastSeq: seq, emittedAtSeq: seq });

function envelope(seq: number, base: number, type: string, fields: Partial<EventEnvelope>): EventEnvelope {
  return {
    specversion: '1.0',
    id: `e-${seq}`,
    source: 'urn:test:hot',
    type,
    tenant: 'acme',
    partitionkey: fields.subject ?? 'k',
    datacontenttype: 'application/json',
    time: iso(base + seq * 1000),
    recordedtime: iso(base + seq * 1000 + 5),
    ...fields,
  };
}

/** Builds stored events with sequences and times derived from `seq`, around the clock `base`. */
export function eventsAt(base: number) {
  const stored = (seq: number, type: string, fields: Partial<EventEnvelope>): StoredEvent => {
    const event = envelope(seq, base, type, fields);
    return { seq, subject: `tw.evt.${event.tenant}.0.${type}`, event };
  };
  return {
    reading: (seq: number, device: string, value: number, tenant = 'acme'): StoredEvent =>
      stored(seq, 'iot.sensor.reading', { tenant, subject: device, data: { device_id: device, reading_value: value } }),
    order: (seq: number, customer: string, amount: number): StoredEvent =>
      stored(seq, 'commerce.order.placed', {
        subject: customer,
        data: { order_id: `o-${seq}`, customer_id: customer, amount, order_date: '2026-01-01' },
      }),
    generic: (seq: number, type: string, subject: string | undefined, data: unknown): StoredEvent =>
      stored(seq, type, { ...(subject === undefined ? {} : { subject }), data }),
    window: (
      seq: number,
      w: {
        pipeline?: string;
        stage?: string;
        key: string;
        start: number;
        end: number;
        final?: boolean;
        value?: unknown;
        replaces?: { start: number; end: number }[];
      },
    ): StoredEvent =>
      stored(seq, DerivedEventType.WindowResult, {
        subject: w.key,
        data: {
          pipeline: w.pipeline ?? 'p1',
          stage: w.stage ?? 's1',
          key: w.key,
          window: { start: iso(w.start), end: iso(w.end) },
          aggregate: 'count',
          value: w.value ?? seq,
          count: 1,
          final: w.final ?? false,
          provisional: false,
          updateCount: 0,
          trigger: 'watermark',
          replaces: (w.replaces ?? []).map((r) => ({ start: iso(r.start), end: iso(r.end) })),
          lineage: lineage(seq),
        },
      }),
    anomaly: (
      seq: number,
      key: string,
      time: number,
      options: { pipeline?: string; id?: string; note?: string } = {},
    ): StoredEvent =>
      stored(seq, DerivedEventType.AnomalyDetected, {
        id: options.id ?? `e-${seq}`,
        subject: key,
        time: iso(time),
        data: {
          pipeline: options.pipeline ?? 'p1',
          stage: 's1',
          key,
          value: seq,
          score: 0.9,
          threshold: 0.6,
          components: { ewma: 0.9 },
          eventTime: iso(time),
          input: { id: `in-${seq}`, source: 'urn:test:hot', seq },
          lineage: lineage(seq),
          ...(options.note === undefined ? {} : { note: options.note }),
        },
      }),
    alert: (seq: number, key: string, time: number): StoredEvent =>
      stored(seq, DerivedEventType.AlertRaised, {
        subject: key,
        time: iso(time),
        data: {
          pipeline: 'p1',
          stage: 's1',
          key,
          value: seq,
          score: 0.9,
          threshold: 0.6,
          at: iso(time),
          suppressedBefore: 0,
          anomalyId: `e-${seq - 1}`,
          summary: `${key} is anomalous`,
          input: { id: `in-${seq}`, source: 'urn:test:hot', seq },
          lineage: lineage(seq),
        },
      }),
  };
}
