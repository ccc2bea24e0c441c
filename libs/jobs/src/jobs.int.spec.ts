import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dedupeId, eventSubject, type EventEnvelope } from '@tideway/events';
import { applyDefinitions, inNamespace, JetStreamPublisher, loadDefinitions, streamName } from '@tideway/nats';
import { createPgSchema, deleteStreams, natsNamespace, type PgSchema } from '@tideway/testing';
import { migrateWarmStore, openWarmStore, type WarmStore } from '@tideway/warm';
import { JobRunner, dailyEntityAggregatesJob, type JobDefinition } from './index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const DAY = 86_400_000;

describe('batch jobs: bounded replays through a pipeline into a projection', () => {
  const ns = natsNamespace();
  const scheme = { root: ns.subjectRoot, partitions: 16 };
  let nc: NatsConnection;
  let pg: PgSchema;
  let warm: WarmStore;
  let runner: JobRunner;
  const today = new Date(Math.floor(Date.now() / DAY) * DAY);
  const yesterday = new Date(today.getTime() - DAY);
  const failing: JobDefinition = {
    name: 'always-fails',
    description: 'fails until told otherwise',
    schedule: '0 * * * *',
    window: (at) => ({ start: new Date(at.getTime() - 3_600_000), end: at }),
    run: async () => {
      if (process.env['JOBS_TEST_HEAL'] !== '1') throw new Error('upstream not ready');
      return { eventsRead: 0, rowsWritten: 0 };
    },
  };

  beforeAll(async () => {
    nc = await connect({ servers: process.env['NATS_URL']! });
    await applyDefinitions(await jetstreamManager(nc), inNamespace(await loadDefinitions(`${root}streams`), ns));
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    warm = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 3 });
    await migrateWarmStore(warm, `${root}migrations`);
    runner = new JobRunner({ nc, stream: streamName('EVENTS', ns), scheme, warm, jobs: [dailyEntityAggregatesJob(), failing] });

    // readings of 3 devices: 10 yesterday each (values i..i+9), plus some today that the run must ignore
    const publisher = new JetStreamPublisher(nc);
    const events: EventEnvelope[] = [];
    for (const device of ['d1', 'd2', 'd3']) {
      for (let i = 0; i < 10; i++) {
        events.push(reading(`${device}-y${i}`, device, i + 1, new Date(yesterday.getTime() + i * 3_600_000)));
      }
      events.push(reading(`${device}-t`, device, 1000, new Date(today.getTime() + 60_000)));
    }
    events.push({ ...reading('bad', 'd1', 0, yesterday), data: { device_id: 'd1', reading_value: 'NaN' } });
    for (const e of events) {
      await publisher.publish({ subject: eventSubject(scheme, e.tenant, e.type, e.partitionkey), payload: new TextEncoder().encode(JSON.stringify(e)), msgId: dedupeId(e.tenant, e.source, e.id) });
    }
  });
  afterAll(async () => {
    await warm?.close();
    await pg?.drop();
    await nc?.close();
    await deleteStreams(process.env['NATS_URL']!, ns.streamSuffix);
  });

  function reading(id: string, device: string, value: number, time: Date): EventEnvelope {
    return {
      specversion: '1.0',
      id,
      source: 'urn:test',
      type: 'iot.sensor.reading',
      subject: device,
      time: time.toISOString(),
      tenant: 'acme',
      partitionkey: device,
      datacontenttype: 'application/json',
      recordedtime: new Date().toISOString(),
      data: { device_id: device, reading_value: value },
    };
  }

  it('computes yesterday per entity with the window operators and records the run', async () => {
    const run = await runner.run('daily-entity-aggregates', new Date(today.getTime() + 5 * 60_000), 'manual');
    expect(run).toMatchObject({ status: 'succeeded', trigger: 'manual', rowsWritten: 3, windowStart: yesterday.toISOString(), windowEnd: today.toISOString() });
    expect(run.eventsRead).toBe(34);
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
    const rows = await warm.sql<{ entity_id: string; count: string; stats: { sum: number; min: number; max: number; mean: number } }[]>`
      select entity_id, count, stats from daily_entity_aggregates order by entity_id`;
    expect(rows.map((r) => r.entity_id)).toEqual(['d1', 'd2', 'd3']);
    for (const r of rows) {
      expect(Number(r.count)).toBe(10);
      expect(r.stats).toMatchObject({ sum: 55, min: 1, max: 10, mean: 5.5 });
    }
  });

  it('re-runs a window idempotently', async () => {
    const [first] = await runner.runs({ job: 'daily-entity-aggregates' });
    const before = await warm.sql`select tenant, entity_type, entity_id, day, count, stats from daily_entity_aggregates order by entity_id`;
    const again = await runner.rerun(first!.id);
    expect(again).toMatchObject({ status: 'succeeded', trigger: 'rerun', rerunOf: first!.id, rowsWritten: 3 });
    const after = await warm.sql`select tenant, entity_type, entity_id, day, count, stats from daily_entity_aggregates order by entity_id`;
    expect(after).toEqual(before);
  });

  it('records a failed run with its error, and a re-run of it can succeed', async () => {
    const failed = await runner.run('always-fails', new Date('2026-05-01T10:00:00Z'), 'schedule');
    expect(failed).toMatchObject({ status: 'failed', error: 'upstream not ready' });
    process.env['JOBS_TEST_HEAL'] = '1';
    const healed = await runner.rerun(failed.id);
    delete process.env['JOBS_TEST_HEAL'];
    expect(healed).toMatchObject({ status: 'succeeded', rerunOf: failed.id });
    expect((await runner.runs({ job: 'always-fails' })).map((r) => r.status)).toEqual(['succeeded', 'failed']);
  });

  it('computes schedule times in UTC', () => {
    expect(runner.nextRun('daily-entity-aggregates', new Date('2026-05-01T10:00:00Z')).toISOString()).toBe('2026-05-02T00:05:00.000Z');
    expect(runner.previousRun('daily-entity-aggregates', new Date('2026-05-01T10:00:00Z')).toISOString()).toBe('2026-05-01T00:05:00.000Z');
  });
});
