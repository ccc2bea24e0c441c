import { DerivedEventType, type EventEnvelope, type StoredEvent } from '@tideway/events';
import { WarmDerivedProjection } from '@tideway/warm';
import { waitFor } from '@tideway/testing';
import type { Platform } from './platform.ts';

/** Sensor readings at one-second steps from `start`, with ids `<prefix>-<i>` and devices `<prefix>-d<i % devices>`. */
export function readings(count: number, prefix: string, start: number, devices = 5): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    specversion: '1.0',
    id: `${prefix}-${i}`,
    source: 'urn:test:sensors',
    type: 'iot.sensor.reading',
    subject: `${prefix}-d${i % devices}`,
    time: new Date(start + i * 1000).toISOString(),
    data: { device_id: `${prefix}-d${i % devices}`, reading_value: (i * 7) % 100, sensor_id: i % 3 === 0 ? 42 : i, name: `n-${i}` },
  }));
}

/** POSTs events in batches and returns the largest stream sequence acknowledged. */
export async function post(platform: Platform, events: readonly Record<string, unknown>[], batch = 500): Promise<number> {
  let max = 0;
  for (let i = 0; i < events.length; i += batch) {
    const response = await fetch(`${platform.ingestUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events.slice(i, i + batch)),
    });
    const body = (await response.json()) as { results?: { seq: number }[] };
    if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${JSON.stringify(body)}`);
    for (const r of body.results ?? []) max = Math.max(max, r.seq);
  }
  return max;
}

/** Waits until the warm events projection has applied `seq`. */
export async function projected(platform: Platform, seq: number): Promise<void> {
  await waitFor(async () => {
    const [row] = await platform.store.sql<{ seq: string }[]>`select seq from projection_checkpoints where projection = 'warm-events'`;
    return row !== undefined && Number(row.seq) >= seq;
  }, { timeoutMs: 30_000, intervalMs: 50, description: `warm-events at ${seq}` });
}

const lineage = { partition: 0, firstSeq: 1, lastSeq: 1, emittedAtSeq: 1 };

function derived(seq: number, type: string, id: string, data: unknown, tenant = 'default'): StoredEvent {
  const time = '2026-03-01T00:00:00Z';
  const event: EventEnvelope = {
    specversion: '1.0',
    id,
    source: 'urn:tideway:processor',
    type,
    time,
    tenant,
    partitionkey: id,
    datacontenttype: 'application/json',
    recordedtime: time,
    data,
  };
  return { seq, subject: 'derived', event };
}

/**
 * Window results, anomalies and alerts in the warm tables, written by the warm derived projection itself from
 * derived events (as the projector would from the DERIVED stream).
 */
export async function seedDerived(platform: Platform): Promise<void> {
  const events: StoredEvent[] = [];
  let seq = 0;
  for (let w = 0; w < 6; w++) {
    for (const key of ['d1', 'd2']) {
      const start = new Date(Date.UTC(2026, 2, 1, 0, w)).toISOString();
      const end = new Date(Date.UTC(2026, 2, 1, 0, w + 1)).toISOString();
      events.push(
        derived(++seq, DerivedEventType.WindowResult, `w-${key}-${w}`, {
          pipeline: 'sensor-stats',
          stage: 'minute',
          key,
          window: { key, start, end },
          aggregate: 'stats',
          value: { count: 10, mean: w * 1.5 },
          count: 10,
          final: w < 5,
          provisional: false,
          updateCount: 0,
          trigger: 'watermark',
          replaces: [],
          lineage,
        }),
      );
    }
  }
  for (let a = 0; a < 4; a++) {
    const at = new Date(Date.UTC(2026, 2, 1, 1, a)).toISOString();
    const input = { id: `in-${a}`, source: 'urn:test:sensors', seq: a + 1 };
    events.push(
      derived(++seq, DerivedEventType.AnomalyDetected, `an-${a}`, {
        pipeline: 'sensor-stats',
        stage: 'detector',
        key: a % 2 === 0 ? 'd1' : 'd2',
        value: 100 + a,
        score: 0.7 + a / 20,
        threshold: 0.6,
        components: { zscore: 0.8 },
        eventTime: at,
        input,
        lineage,
      }),
    );
    events.push(
      derived(++seq, DerivedEventType.AlertRaised, `al-${a}`, {
        pipeline: 'sensor-stats',
        stage: 'detector',
        key: a % 2 === 0 ? 'd1' : 'd2',
        value: 100 + a,
        score: 0.7 + a / 20,
        threshold: 0.6,
        at,
        suppressedBefore: 0,
        anomalyId: `an-${a}`,
        summary: `d${a} is off`,
        input,
        lineage,
      }),
    );
  }
  // another tenant's alert: never visible to the default tenant
  events.push(
    derived(
      ++seq,
      DerivedEventType.AlertRaised,
      'al-other',
      { pipeline: 'p', stage: 's', key: 'x', value: 1, score: 0.9, threshold: 0.5, at: '2026-03-01T02:00:00Z', suppressedBefore: 0, anomalyId: 'a', summary: 'x', input: { id: 'i', source: 's', seq: 1 }, lineage },
      'other',
    ),
  );
  await new WarmDerivedProjection(platform.store).apply(events, seq);
}

/** Reads an SSE response until `want` events arrived (or the stream ends); returns the events and the raw lines. */
export async function readSse(
  response: Response,
  want: number,
  timeoutMs = 20_000,
): Promise<{ events: { id: number; data: { seq: number; event: Record<string, unknown> } }[]; comments: string[] }> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: { id: number; data: { seq: number; event: Record<string, unknown> } }[] = [];
  const comments: string[] = [];
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (events.length < want && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(1, deadline - Date.now())))]);
      if (next === 'timeout' || next.done) break;
      buffer += next.value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1 && events.length < want) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id: number | undefined;
        let data: string | undefined;
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) comments.push(line);
          else if (line.startsWith('id: ')) id = Number(line.slice(4));
          else if (line.startsWith('data: ')) data = line.slice(6);
        }
        if (id !== undefined && data !== undefined) events.push({ id, data: JSON.parse(data) });
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { events, comments };
}
