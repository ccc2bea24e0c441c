import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '@tideway/events';
import { applyDefinitions, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import { cleanupRedisPrefix, deleteStreams, natsNamespace, redisPrefix, waitFor } from '@tideway/testing';
import { hotChecksum, HotStoreReader } from './index.ts';
import { eventsAt, testClock } from './testing/fixtures.ts';
import { publishEnvelopes } from './testing/publish.ts';
import { runHot, type HotRunConfig } from './testing/run-hot.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const childEntry = fileURLToPath(new URL('./testing/hot-projector-child.ts', import.meta.url));
const NATS_URL = process.env['NATS_URL']!;
const REDIS_URL = process.env['REDIS_URL']!;
const quiet = { info: () => {}, error: () => {} };
const random = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));

/** A mixed history: readings of 40 devices in two tenants, orders, generic events, derived events, and poison. */
function history(n: number, now: number): { events: EventEnvelope[]; poison: number } {
  const ev = eventsAt(now - n * 1000);
  const events: EventEnvelope[] = [];
  let poison = 0;
  for (let seq = 1; seq <= n; seq++) {
    const m = seq % 20;
    const minute = now - Math.floor((n - seq) / 100) * 60_000;
    let stored;
    if (m < 12) stored = ev.reading(seq, `d${seq % 40}`, (seq * 37) % 101, seq % 2 === 0 ? 'acme' : 'globex');
    else if (m < 14) stored = ev.order(seq, `c${seq % 9}`, (seq % 50) + 0.25);
    else if (m === 14) stored = ev.generic(seq, 'misc.thing', `t${seq % 11}`, { n: seq });
    else if (m === 15)
      stored = ev.window(seq, {
        key: `k${seq % 5}`,
        start: minute - 60_000,
        end: minute,
        final: seq % 40 === 15,
        value: seq,
      });
    else if (m === 16) stored = ev.anomaly(seq, `k${seq % 5}`, now - (n - seq) * 100);
    else if (m === 17) stored = ev.alert(seq, `k${seq % 5}`, now - (n - seq) * 100);
    else if (seq % 1000 === 18) {
      stored = ev.generic(seq, 'misc.blob', `b${seq}`, 'x'.repeat(6000)); // too large: quarantined
      poison++;
    } else stored = ev.reading(seq, `d${seq % 40}`, seq % 7, 'acme');
    events.push(stored.event);
  }
  return { events, poison };
}

describe('hot projector killed at random points', () => {
  const ns = natsNamespace();
  const live = redisPrefix();
  const rebuilt = redisPrefix();
  const children: ChildProcess[] = [];
  let nc: NatsConnection;
  let redis: Redis;
  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL });
    redis = new Redis(REDIS_URL);
    await applyDefinitions(await jetstreamManager(nc), inNamespace(await loadDefinitions(`${repoRoot}streams`), ns));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await nc?.close();
    redis?.disconnect();
    await deleteStreams(NATS_URL, ns.streamSuffix);
    await cleanupRedisPrefix(REDIS_URL, live);
    await cleanupRedisPrefix(REDIS_URL, rebuilt);
  });

  it('converges, after repeated SIGKILLs, to the same content as a clean rebuild from the stream', async () => {
    const scheme = { root: ns.subjectRoot, partitions: 4 };
    const { events, poison } = history(12_000, testClock());
    const seqs = await publishEnvelopes(nc, scheme, events);
    const last = seqs.at(-1)!;
    const base: HotRunConfig = {
      natsUrl: NATS_URL,
      redisUrl: REDIS_URL,
      prefix: live,
      streamsDir: `${repoRoot}streams`,
      subjectRoot: ns.subjectRoot,
      streamSuffix: ns.streamSuffix,
      partitions: scheme.partitions,
      maxBatch: 100,
      leaseMs: 1000,
      store: { limits: { maxValueBytes: 4096, maxWindowsPerKey: 50, maxAnomalies: 200, maxAlerts: 100 } },
    };
    const reader = new HotStoreReader({ redis, prefix: live });

    const killedAt: number[] = [];
    for (let round = 0; round < 6; round++) {
      const before = await reader.checkpoint();
      const config: HotRunConfig = { ...base, maxBatch: random(10, 250) };
      const child = spawn(process.execPath, ['--import', 'tsx', childEntry, JSON.stringify(config)], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      if (round % 2 === 0) {
        // a random amount of progress
        const target = Math.min(last - 1, before + random(100, 2000));
        await waitFor(async () => (await reader.checkpoint()) >= target, {
          timeoutMs: 60_000,
          intervalMs: 5,
          description: `checkpoint ${target}`,
        });
      } else {
        // a random moment after start-up: while positioning, between batches or inside one
        await once(child.stdout, 'data');
        await new Promise((r) => setTimeout(r, random(0, 1000)));
      }
      child.kill('SIGKILL');
      await once(child, 'exit');
      killedAt.push(await reader.checkpoint());
    }
    console.log(`killed at checkpoints ${killedAt.join(', ')} of ${last}`);
    expect(killedAt.some((c) => c > 0 && c < last)).toBe(true); // at least one kill landed mid-stream

    // restart and let it finish
    const finish = await runHot({ ...base, maxBatch: 333 }, quiet);
    await waitFor(async () => (await reader.checkpoint()) === last, {
      timeoutMs: 60_000,
      description: 'live projection caught up',
    });
    await finish.close();

    // a clean rebuild of the same stream into a fresh prefix, with its own consumer and other batch sizes
    const rebuild = await runHot({ ...base, prefix: rebuilt, durable: 'hot-rebuild', maxBatch: 1000 }, quiet);
    const rebuiltReader = new HotStoreReader({ redis, prefix: rebuilt });
    await waitFor(async () => (await rebuiltReader.checkpoint()) === last, {
      timeoutMs: 60_000,
      description: 'rebuild caught up',
    });
    await rebuild.close();

    const liveSum = await hotChecksum(redis, live);
    expect(liveSum.keys).toBeGreaterThan(50);
    expect(await hotChecksum(redis, rebuilt)).toEqual(liveSum);

    // exactly once, independently of the rebuild: each device's count is its number of readings
    const readings = new Map<string, number>();
    for (const e of events) {
      if (e.type !== 'iot.sensor.reading') continue;
      const id = `${e.tenant}/${e.subject}`;
      readings.set(id, (readings.get(id) ?? 0) + 1);
    }
    for (const [id, count] of readings) {
      const [tenant, device] = id.split('/') as [string, string];
      expect((await reader.getEntity(tenant, 'device', device))?.['count'], id).toBe(count);
    }
    // poison was quarantined once each, however often a killed projector met it
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(streamName('QUARANTINE', ns))).state.messages).toBe(poison);
  }, 240_000);
});
