import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DerivedEventType, type AnomalyDetectedData, type EventEnvelope, type WindowResultData } from '@tideway/events';
import { streamName } from '@tideway/nats';
import { loadProcessorConfig, startProcessor, type RunningProcessor } from '@tideway/processor';
import { waitFor } from '@tideway/testing';
import { postEvents, repoRoot, startPlatform, type Platform } from './platform.ts';

/** Every message of a stream, parsed. */
async function readStream(nc: NatsConnection, stream: string): Promise<EventEnvelope[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.consumers.add(stream, { ack_policy: 'none', deliver_policy: 'all', mem_storage: true, inactive_threshold: 30_000_000_000 });
  const out: EventEnvelope[] = [];
  try {
    const consumer = await jetstream(nc).consumers.get(stream, info.name);
    let pending = info.num_pending;
    while (pending > 0) {
      for await (const m of (await consumer.fetch({ max_messages: Math.min(500, pending), expires: 2000 })) as AsyncIterable<JsMsg>) {
        out.push(m.json<EventEnvelope>());
        pending = m.info.pending;
      }
    }
  } finally {
    await jsm.consumers.delete(stream, info.name).catch(() => undefined);
  }
  return out;
}

/**
 * The running half of stream processing end to end: sensor readings posted to the ingest API flow through
 * JetStream into the processor (the shipped `pipelines/sensor-readings.pipeline.json`), which publishes window
 * statistics and anomalies to the DERIVED stream.
 */
describe('ingest → processor → DERIVED', () => {
  let platform: Platform;
  let processor: RunningProcessor;
  let nc: NatsConnection;
  const start = Date.UTC(2026, 2, 2, 10, 0, 0);
  const devices = ['pump-1', 'pump-2', 'pump-3', 'pump-4'];
  const readings = 200;

  beforeAll(async () => {
    platform = await startPlatform({ projector: false });
    processor = await startProcessor(loadProcessorConfig({ ...platform.env, PROCESSOR_PORT: '0', PIPELINES_DIR: `${repoRoot}pipelines`, PROCESSOR_PROVISIONAL_AFTER_MS: '0' }), {
      handleSignals: false,
    });
    nc = await connect({ servers: platform.env['NATS_URL']! });
  });
  afterAll(async () => {
    await processor?.close();
    await nc?.close();
    await platform?.[Symbol.asyncDispose]();
  });

  it('aggregates every reading into its device’s 1-minute window and flags a spike as an anomaly', async () => {
    const events = [];
    for (let i = 0; i < readings; i++) {
      for (const [d, device] of devices.entries()) {
        const spike = device === 'pump-2' && i === 170;
        events.push({
          specversion: '1.0',
          id: `${device}-${i}`,
          source: 'urn:e2e:plant',
          type: 'iot.sensor.reading',
          subject: device,
          time: new Date(start + i * 1000 + d * 10).toISOString(),
          data: { device_id: device, reading_value: spike ? 480 : 40 + d * 5 + Math.sin(i / 7) * 2 + (i % 3) * 0.1 },
        });
      }
    }
    for (let i = 0; i < events.length; i += 200) expect((await postEvents(platform, events.slice(i, i + 200))).status).toBe(202);

    const derived = streamName('DERIVED', platform.namespace);
    // 200 s of readings: minutes 0, 1 and 2 are closed by the watermark (max time − 5 s), minute 3 stays open
    const windows = await waitFor(
      async () => {
        const found = (await readStream(nc, derived)).filter((e) => e.type === DerivedEventType.WindowResult);
        return found.length >= devices.length * 3 ? found : undefined;
      },
      { timeoutMs: 30_000, description: 'closed 1-minute windows of every device' },
    );
    const data = windows.map((w) => w.data as WindowResultData);
    for (const device of devices) {
      const mine = data.filter((w) => w.key === device).sort((a, b) => a.window.start.localeCompare(b.window.start));
      expect(mine.map((w) => [w.window.start, w.count, w.final])).toEqual([
        [new Date(start).toISOString(), 60, true],
        [new Date(start + 60_000).toISOString(), 60, true],
        [new Date(start + 120_000).toISOString(), 60, true],
      ]);
      expect((mine[0]!.value as { count: number }).count).toBe(60);
    }
    const anomalies = (await readStream(nc, derived)).filter((e) => e.type === DerivedEventType.AnomalyDetected).map((e) => e.data as AnomalyDetectedData);
    expect(anomalies.map((a) => [a.key, a.input.id])).toContainEqual(['pump-2', 'pump-2-170']);
    expect(anomalies.find((a) => a.input.id === 'pump-2-170')!.score).toBeGreaterThanOrEqual(0.6);
    const status = (await (await fetch(`http://127.0.0.1:${processor.port}/v1/pipelines`)).json()) as { pipelines: { name: string }[] };
    expect(status.pipelines.map((p) => p.name)).toContain('sensor-readings');
  });
});
