import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildProjections, type RebuildScope } from '@tideway/cli';
import { ColdArchiveReader, openColdStore, readColdCheckpoint, s3Client, type ColdStore } from '@tideway/cold';
import { HotGenerations, hotChecksum } from '@tideway/hot';
import { streamName } from '@tideway/nats';
import { cleanupRedisPrefix, redisPrefix, uniqueSuffix, waitFor } from '@tideway/testing';
import { dropSchema, warmChecksum } from '@tideway/warm';
import { postEvents, sensorEvents, startPlatform, waitForWarmCount, type Platform } from './platform.ts';

describe('tideway replay: rebuild projections into shadows and swap them in', () => {
  let platform: Platform;
  let nc: NatsConnection;
  let redis: Redis;
  const hotBase = redisPrefix();
  let generations: HotGenerations;
  let cold: ColdStore;
  const bucket = `t-${uniqueSuffix()}`;

  beforeAll(async () => {
    platform = await startPlatform({ projector: false });
    Object.assign(platform.env, { PROJECTIONS: 'warm,derived,hot,hot-derived,cold', HOT_PREFIX: hotBase, COLD_BUCKET: bucket, COLD_BATCH: '5000', COLD_MAX_WAIT_MS: '1000' });
    await platform.startProjector();
    nc = await connect({ servers: platform.env['NATS_URL']! });
    redis = new Redis(platform.env['REDIS_URL']!);
    generations = new HotGenerations(redis, hotBase);
    const s3 = s3Client({ endpoint: platform.env['S3_ENDPOINT']!, accessKey: platform.env['S3_ACCESS_KEY']!, secretKey: platform.env['S3_SECRET_KEY']!, region: 'us-east-1' });
    cold = openColdStore({ url: platform.env['DATABASE_URL']!, schema: platform.env['DATABASE_SCHEMA']!, s3, bucket });
  });
  afterAll(async () => {
    await platform?.stopProjector();
    if (cold) {
      const names: string[] = [];
      for await (const o of cold.s3.listObjectsV2(bucket, '', true) as AsyncIterable<{ name: string }>) names.push(o.name);
      for (let i = 0; i < names.length; i += 500) await cold.s3.removeObjects(bucket, names.slice(i, i + 500));
      await cold.s3.removeBucket(bucket);
      await cold.close();
    }
    await nc?.close();
    await platform?.[Symbol.asyncDispose]();
    if (redis) {
      for (const p of [hotBase.replace(/:$/, '~'), hotBase]) await cleanupRedisPrefix(platform.env['REDIS_URL']!, p);
      await redis.quit();
    }
  });

  const rebuild = (scope: RebuildScope, range: { toSeq?: number } = {}) =>
    rebuildProjections({
      nc,
      scheme: { root: platform.env['TIDEWAY_SUBJECT_ROOT']!, partitions: 16 },
      streamName: (base) => streamName(base, { subjectRoot: platform.env['TIDEWAY_SUBJECT_ROOT']!, streamSuffix: platform.env['TIDEWAY_STREAM_SUFFIX']! }),
      databaseUrl: platform.env['DATABASE_URL']!,
      schema: platform.env['DATABASE_SCHEMA']!,
      migrationsDir: platform.env['MIGRATIONS_DIR']!,
      redis,
      hotPrefix: hotBase,
      cold,
      scope,
      range,
      dropReplaced: true,
    });

  async function hotLive(): Promise<{ keys: number; sha256: string }> {
    return hotChecksum(redis, await generations.live());
  }

  async function coldContent(): Promise<{ ids: string[]; objects: string[] }> {
    const ids: string[] = [];
    for await (const e of new ColdArchiveReader({ store: cold }).events({ order: 'seq' })) ids.push(e.event.id);
    const objects = (await cold.sql<{ key: string; checksum: string }[]>`select key, sha256 as checksum from cold_objects where projection = 'cold-events' order by key`).map((o) => `${o.key.replace(/^.*?tenant=/, '')}:${o.checksum}`);
    return { ids, objects };
  }

  async function hotCheckpoint(): Promise<number> {
    return Number((await redis.get(`${await generations.live()}_cp:hot`)) ?? 0);
  }

  async function post(events: Record<string, unknown>[]): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < events.length; i += 250) {
      const res = await postEvents(platform, events.slice(i, i + 250));
      expect(res.status).toBe(202);
      ids.push(...res.body.results.map((r: { id: string }) => r.id));
    }
    return ids;
  }

  it('during live ingestion: no gap and no duplicate at the swap, and the result equals a clean replay', async () => {
    const acked = await post(sensorEvents(3000, 'pre'));
    await waitForWarmCount(platform, 3000);

    let ingesting = true;
    let round = 0;
    const live = (async () => {
      while (ingesting && round < 12) acked.push(...(await post(sensorEvents(100, `live${round++}`))));
    })();
    const summary = await rebuild('all');
    ingesting = false;
    await live;
    expect(summary.swapped).toBe(true);
    expect(summary.projections.map((p) => p.projection)).toEqual(['warm-events', 'warm-derived', 'hot', 'hot-derived', 'cold-events']);
    expect(await generations.live()).toBe(summary.hotPrefix);

    await waitForWarmCount(platform, acked.length);
    const head = await platform.streamMessages();
    await waitFor(async () => (await hotCheckpoint()) === head, { timeoutMs: 30_000 });
    await waitFor(async () => (await readColdCheckpoint(cold.sql, 'cold-events')) === head, { timeoutMs: 30_000 });
    const archived = await coldContent();
    expect(archived.ids.length).toBe(acked.length);
    expect(new Set(archived.ids)).toEqual(new Set(acked));
    const rows = await platform.store.sql<{ id: string; n: number }[]>`select id, count(*)::int as n from events group by id`;
    expect(rows.every((r) => r.n === 1)).toBe(true);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(acked));

    // rebuilt-then-incrementally-continued equals a replay from scratch of the same range
    const incrementalWarm = await warmChecksum(platform.store);
    const incrementalHot = await hotLive();
    const clean = await rebuild('all', { toSeq: head });
    expect(clean.swapped).toBe(false);
    expect(clean.warm?.checksum).toBe(incrementalWarm.checksum);
    expect(clean.warm?.events).toBe(acked.length);
    expect(clean.hot?.sha256).toBe(incrementalHot.sha256);
    expect(incrementalHot.keys).toBeGreaterThan(0);
    await dropSchema(platform.store, clean.shadowSchema!);
    await generations.retire(clean.hotPrefix!);
  }, 180_000);

  it('restores a truncated warm table, a flushed Redis and an emptied archive to the same content', async () => {
    const warmBefore = await warmChecksum(platform.store);
    const hotBefore = await hotLive();
    const coldBefore = await coldContent();
    await cold.sql`delete from cold_objects where projection = 'cold-events'`;
    await platform.store.sql`truncate events, entity_state`;
    await generations.retire(await generations.live());
    expect((await warmChecksum(platform.store)).events).toBe(0);
    expect((await hotLive()).keys).toBe(0);

    const summary = await rebuild('all');
    expect(summary.swapped).toBe(true);
    expect(await warmChecksum(platform.store)).toEqual(warmBefore);
    expect((await hotLive()).sha256).toBe(hotBefore.sha256);
    expect(await coldContent()).toEqual(coldBefore);
  }, 120_000);
});
