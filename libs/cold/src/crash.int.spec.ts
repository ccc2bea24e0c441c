import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSubject, type StoredEvent } from '@tideway/events';
import { applyDefinitions, inNamespace, loadDefinitions, streamName, type ConsumerDefinition } from '@tideway/nats';
import { runProjection } from '@tideway/projection';
import { createPgSchema, createS3Bucket, deleteStreams, natsNamespace, waitFor, type PgSchema, type S3Bucket } from '@tideway/testing';
import { acquireProjectionLock, openWarmStore, type WarmStore } from '@tideway/warm';
import type { CrashProjectorConfig } from './crash-projector.fixture.ts';
import { ColdArchiveReader, createColdProjection, migrateColdStore, openColdStore, queryManifest, readColdCheckpoint, type ColdStore } from './index.ts';
import { manifestSnapshot, mixedStream, objectChecksums, testEvent } from './spec-helpers.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = fileURLToPath(new URL('./crash-projector.fixture.ts', import.meta.url));
const layout = { windowSize: 700, maxObjectBytes: 48 * 1024 };
const TOTAL = 6000;

describe('cold projector crash safety', () => {
  const ns = natsNamespace();
  const scheme = { root: ns.subjectRoot, partitions: 16 };
  let pg: PgSchema;
  let bucket: S3Bucket;
  let store: ColdStore;
  let locks: WarmStore;
  let nc: NatsConnection;
  let consumer: ConsumerDefinition['config'];
  const stream = streamName('EVENTS', ns);
  const children: ChildProcess[] = [];
  /** Events as published, by stream sequence; the conflicting ones are set aside. */
  const published: StoredEvent[] = [];
  const conflicting = new Set<number>();

  beforeAll(async () => {
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    bucket = await createS3Bucket(process.env);
    store = openColdStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, s3: bucket.client, bucket: bucket.name });
    await migrateColdStore(store, `${repo}migrations/cold`);
    locks = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 2 });
    nc = await connect({ servers: process.env['NATS_URL']! });
    const defs = inNamespace(await loadDefinitions(`${repo}streams`), ns);
    await applyDefinitions(await jetstreamManager(nc), { streams: defs.streams, consumers: [] });
    consumer = defs.consumers.find((c) => c.stream === stream && c.config.durable_name === 'cold-archiver')!.config;
    expect(consumer).toBeDefined();

    // The event log: a mixed stream, with payloads that conflict with an earlier column now and then.
    const js = jetstream(nc);
    const events = mixedStream(TOTAL, { tenants: 3, days: 4 });
    for (const [i, { event }] of events.entries()) {
      let payload = event;
      if (i % 500 === 250 && event.type === 'iot.sensor.reading') {
        payload = { ...event, data: { device_id: 'd-x', reading_value: 'not a number' } };
      }
      const ack = await js.publish(eventSubject(scheme, event.tenant, event.type, event.partitionkey), JSON.stringify(payload));
      if (payload !== event) conflicting.add(ack.seq);
      published.push({ seq: ack.seq, subject: eventSubject(scheme, event.tenant, event.type, event.partitionkey), event: payload });
    }
    expect(conflicting.size).toBeGreaterThan(3);
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await nc?.close();
    await deleteStreams(process.env['NATS_URL']!, ns.streamSuffix);
    await Promise.all([store?.close(), locks?.close()]);
    await bucket?.remove();
    await pg?.drop();
  });

  function spawnProjector(maxBatch: number): ChildProcess {
    const endpoint = new URL(process.env['S3_ENDPOINT']!);
    const config: CrashProjectorConfig = {
      databaseUrl: process.env['DATABASE_URL']!,
      schema: pg.schema,
      s3: { endPoint: endpoint.hostname, port: Number(endpoint.port), accessKey: 'S3RVER', secretKey: 'S3RVER', region: 'us-east-1' },
      bucket: bucket.name,
      natsUrl: process.env['NATS_URL']!,
      stream,
      consumer,
      subjectRoot: ns.subjectRoot,
      name: 'cold-events',
      prefix: 'events',
      ...layout,
      maxBatch,
      maxWaitMs: 20,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(config)], { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(child);
    return child;
  }

  const checkpoint = (name: string): Promise<number> => readColdCheckpoint(store.sql, name);
  const last = (): number => published.at(-1)!.seq;

  it('a cold projector killed with SIGKILL at random points, again and again, ends with the manifest and objects of a clean rebuild', async () => {
    // Up to five kills; a fast machine can finish the stream within a kill's random delay, and then the rounds
    // stop there. At least two must land mid-stream (the first two cannot reach the end below ≈ 40k events/s).
    let midStream = 0;
    for (let round = 0; round < 5; round++) {
      const child = spawnProjector(50 + Math.floor(Math.random() * 350));
      const before = await checkpoint('cold-events');
      const target = Math.min(last(), before + 200 + Math.floor(Math.random() * 500));
      await waitFor(async () => (await checkpoint('cold-events')) >= target, { timeoutMs: 60_000, intervalMs: 10, description: `checkpoint past ${target}` });
      // then somewhere inside the next batches: between puts, mid-put, or around the commit
      await new Promise((r) => setTimeout(r, Math.random() * 60));
      child.kill('SIGKILL');
      await once(child, 'exit');
      if ((await checkpoint('cold-events')) >= last()) break; // it finished before the kill
      midStream++;
    }
    expect(midStream).toBeGreaterThanOrEqual(2);
    const finisher = spawnProjector(300);
    await waitFor(async () => (await checkpoint('cold-events')) === last(), { timeoutMs: 60_000, description: 'crashed projection caught up' });
    finisher.kill('SIGTERM');
    await once(finisher, 'exit');

    // The clean rebuild: the same stream, uninterrupted, another durable, prefix and name.
    const clean = await runProjection({
      nc,
      connected: () => !nc.isClosed(),
      stream,
      consumer: { ...consumer, durable_name: 'cold-archiver-clean' },
      store: createColdProjection({ store, name: 'cold-clean', prefix: 'clean', ...layout }),
      scheme,
      acquireLock: (projection, onWaiting) => acquireProjectionLock(locks, projection, { onWaiting }),
      maxBatch: 1000,
      maxWaitMs: 20,
      log: { info: () => {}, error: () => {} },
    });
    try {
      await waitFor(async () => (await checkpoint('cold-clean')) === last(), { timeoutMs: 60_000, description: 'clean rebuild done' });
    } finally {
      await clean.stop();
    }

    const crashed = await manifestSnapshot(store, 'cold-events', 'events');
    expect(crashed.length).toBeGreaterThan(20);
    expect(crashed).toEqual(await manifestSnapshot(store, 'cold-clean', 'clean'));
    // every object in the bucket is in the manifest, with the manifest's checksum: no orphan survived
    const objects = await objectChecksums(store, 'events');
    expect(objects).toEqual(await objectChecksums(store, 'clean'));
    expect(objects).toEqual(new Map(crashed.map((m) => [m.key, m.sha256])));

    // every event is archived exactly once, except the conflicting ones, which went to quarantine
    const archived: StoredEvent[] = [];
    for await (const e of new ColdArchiveReader({ store, name: 'cold-events', prefix: 'events' }).events({ order: 'seq' })) archived.push(e);
    expect(archived).toEqual(published.filter((e) => !conflicting.has(e.seq)));
    const quarantine = await (await jetstreamManager(nc)).streams.info(streamName('QUARANTINE', ns));
    expect(quarantine.state.messages).toBe(conflicting.size * 2); // once for each of the two projections
    expect((await queryManifest(store.sql, { projection: 'cold-events' })).every((m) => m.origin === 'projection')).toBe(true);
  }, 300_000);

  it('a projector whose checkpoint moved under it (a second writer) refuses to commit', async () => {
    // the writer lock is the runner's; a store whose checkpoint moved under it refuses to commit
    const a = createColdProjection({ store, name: 'cold-events', prefix: 'events', ...layout });
    const b = createColdProjection({ store, name: 'cold-events', prefix: 'events', ...layout });
    const next = last() + 1;
    await a.checkpoint();
    await b.checkpoint();
    await a.apply([testEvent(next, { tenant: 't0', time: '2024-03-02T00:00:00Z', data: { device_id: 'd', reading_value: 1 } }, ns.subjectRoot)], next);
    await expect(b.apply([testEvent(next + 1, { tenant: 't0', time: '2024-03-02T00:00:01Z' }, ns.subjectRoot)], next + 1)).rejects.toThrow(/another writer/);
    expect(await checkpoint('cold-events')).toBe(next);
  });
});
