import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDefinitions, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import { cleanupRedisPrefix, deleteStreams, natsNamespace, redisPrefix, waitFor } from '@tideway/testing';
import { HOT_DERIVED_CONSUMER, HOT_PROJECTOR_CONSUMER } from './index.ts';
import { eventsAt, testClock } from './testing/fixtures.ts';
import { publishEnvelopes } from './testing/publish.ts';
import { runHot, type HotRunConfig } from './testing/run-hot.ts';

const streamsDir = fileURLToPath(new URL('../../../streams', import.meta.url));
const NATS_URL = process.env['NATS_URL']!;
const REDIS_URL = process.env['REDIS_URL']!;
const quiet = { info: () => {}, error: () => {} };

describe('hot projection through the projection runner', () => {
  const ns = natsNamespace();
  const prefix = redisPrefix();
  const scheme = { root: ns.subjectRoot, partitions: 4 };
  let nc: NatsConnection;
  let redis: Redis;
  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    redis = new Redis(REDIS_URL);
    await applyDefinitions(await jetstreamManager(nc), inNamespace(await loadDefinitions(streamsDir), ns));
  });
  afterAll(async () => {
    await nc?.close();
    redis?.disconnect();
    await deleteStreams(NATS_URL, ns.streamSuffix);
    await cleanupRedisPrefix(REDIS_URL, prefix);
  });

  it('the streams/ consumers exist for the hot projections of EVENTS and DERIVED', async () => {
    const defs = await loadDefinitions(streamsDir);
    expect(defs.consumers.find((c) => c.config.durable_name === HOT_PROJECTOR_CONSUMER)).toMatchObject({
      stream: 'EVENTS',
      config: { ack_policy: 'all' },
    });
    expect(defs.consumers.find((c) => c.config.durable_name === HOT_DERIVED_CONSUMER)).toMatchObject({
      stream: 'DERIVED',
      config: { ack_policy: 'all' },
    });
    // they read the whole stream: no filter subject, which NATS 2.9 would match against every message
    for (const name of [HOT_PROJECTOR_CONSUMER, HOT_DERIVED_CONSUMER]) expect(defs.consumers.find((c) => c.config.durable_name === name)!.config.filter_subject).toBeUndefined();
  });

  it('projects entities and derived events, quarantines what it cannot hold, and moves on', async () => {
    const now = testClock();
    const ev = eventsAt(now - 600_000);
    const events = [
      ev.reading(1, 'd1', 10),
      ev.reading(2, 'd1', 20),
      ev.generic(3, 'misc.blob', 'b1', 'x'.repeat(5000)), // too large for this store
      ev.window(4, { key: 'k', start: now - 120_000, end: now - 60_000, final: true, value: 42 }),
      ev.generic(5, 'tideway.window.result', 'k', { value: 1 }), // a window result without pipeline/window
      ev.anomaly(6, 'd1', now - 30_000),
      ev.reading(7, 'd1', 30),
    ].map((s) => s.event);
    const seqs = await publishEnvelopes(nc, scheme, events);

    const config: HotRunConfig = {
      natsUrl: NATS_URL,
      redisUrl: REDIS_URL,
      prefix,
      streamsDir,
      subjectRoot: ns.subjectRoot,
      streamSuffix: ns.streamSuffix,
      partitions: scheme.partitions,
      maxBatch: 3,
      leaseMs: 2000,
      store: { limits: { maxValueBytes: 4096 } },
    };
    const hot = await runHot(config, quiet);
    try {
      const { reader } = hot.projection;
      await waitFor(async () => (await reader.checkpoint()) === seqs.at(-1), {
        timeoutMs: 20_000,
        description: 'checkpoint at the last event',
      });
      expect(await reader.getEntity('acme', 'device', 'd1')).toMatchObject({
        count: 3,
        sum: 60,
        last_value: 30,
        last_seq: seqs[6],
      });
      expect(await reader.getEntity('acme', 'misc.blob', 'b1')).toBeUndefined();
      expect((await reader.windowResults('acme', 'p1')).map((w) => (w.data as { value: number }).value)).toEqual([42]);
      expect((await reader.recentAnomalies('acme')).map((a) => a.key)).toEqual(['d1']);

      const jsm = await jetstreamManager(nc);
      const quarantine = streamName('QUARANTINE', ns);
      const stored = await waitFor(
        async () => ((await jsm.streams.info(quarantine)).state.messages === 2 ? true : undefined),
        { timeoutMs: 5000 },
      );
      expect(stored).toBe(true);
      const reasons = await Promise.all(
        [1, 2].map(async (seq) => (await jsm.streams.getMessage(quarantine, { seq }))!.header.get('Tideway-Reason')),
      );
      expect(reasons[0]).toMatch(/exceeds the hot store's limit of 4096 bytes/);
      expect(reasons[1]).toMatch(/not a window result: pipeline/);
    } finally {
      await hot.close();
    }
  });

  it('a second instance keeps the DERIVED stream under the same prefix, with its own checkpoint', async () => {
    const now = testClock();
    const ev = eventsAt(now - 600_000);
    const derived = [
      ev.window(101, { key: 'd1', start: now - 120_000, end: now - 60_000, value: 1 }),
      ev.window(102, { key: 'd1', start: now - 120_000, end: now - 60_000, final: true, value: 2 }), // the final result replaces the open one
      ev.window(103, { key: 'd1', start: now - 60_000, end: now, value: 3 }),
      ev.anomaly(104, 'd1', now - 20_000),
      ev.alert(105, 'd1', now - 20_000),
      ev.generic(106, 'tideway.anomaly.detected', 'd1', { key: 'd1' }), // not an anomaly payload
    ].map((s) => s.event);
    const seqs = await publishEnvelopes(nc, scheme, derived, { derived: true });

    const hot = await runHot(
      {
        natsUrl: NATS_URL,
        redisUrl: REDIS_URL,
        prefix,
        streamsDir,
        subjectRoot: ns.subjectRoot,
        streamSuffix: ns.streamSuffix,
        partitions: scheme.partitions,
        maxBatch: 100,
        leaseMs: 2000,
        stream: 'DERIVED',
        consumer: HOT_DERIVED_CONSUMER,
        store: { name: 'hot-derived', entities: false },
      },
      quiet,
    );
    try {
      const { reader } = hot.projection;
      await waitFor(async () => (await reader.checkpoint('hot-derived')) === seqs.at(-1), {
        timeoutMs: 20_000,
        description: 'hot-derived checkpoint',
      });
      expect(await reader.checkpoint('hot')).toBe(7); // the EVENTS instance's, untouched
      const windows = await reader.windowResults('acme', 'p1', { key: 'd1' });
      expect(windows.map((w) => [w.start, w.final, (w.data as { value: number }).value])).toEqual([
        [now - 60_000, false, 3],
        [now - 120_000, true, 2],
      ]);
      expect((await reader.windowResults('acme', 'p1', { status: 'open' })).map((w) => w.seq)).toEqual([seqs[2]]);
      expect((await reader.recentAnomalies('acme', { key: 'd1' })).map((a) => a.id)).toEqual(['e-104', 'e-6']);
      expect((await reader.recentAlerts('acme')).map((a) => [a.id, a.pipeline, a.at])).toEqual([
        ['e-105', 'p1', now - 20_000],
      ]);
    } finally {
      await hot.close();
    }
  });
});
