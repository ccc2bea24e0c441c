import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColdArchiveReader, openColdStore, readColdCheckpoint, s3Client, type ColdStore } from '@tideway/cold';
import { JobRunner, tieringJob } from '@tideway/jobs';
import { streamName } from '@tideway/nats';
import { uniqueSuffix, waitFor } from '@tideway/testing';
import { postEvents, sensorEvents, startPlatform, waitForWarmCount, type Platform } from './platform.ts';

describe('cold archive and tiering, wired in the projector', () => {
  let platform: Platform;
  let nc: NatsConnection;
  let cold: ColdStore;
  const bucket = `t-${uniqueSuffix()}`;

  beforeAll(async () => {
    platform = await startPlatform({ projector: false });
    Object.assign(platform.env, { PROJECTIONS: 'warm,cold', COLD_BUCKET: bucket, COLD_BATCH: '500', COLD_MAX_WAIT_MS: '200' });
    await platform.startProjector();
    nc = await connect({ servers: platform.env['NATS_URL']! });
    const s3 = s3Client({ endpoint: platform.env['S3_ENDPOINT']!, accessKey: platform.env['S3_ACCESS_KEY']!, secretKey: platform.env['S3_SECRET_KEY']!, region: 'us-east-1' });
    cold = openColdStore({ url: platform.env['DATABASE_URL']!, schema: platform.env['DATABASE_SCHEMA']!, s3, bucket });
  });
  afterAll(async () => {
    await platform?.stopProjector();
    if (cold) {
      const names: string[] = [];
      for await (const o of cold.s3.listObjectsV2(bucket, '', true) as AsyncIterable<{ name: string }>) names.push(o.name);
      if (names.length > 0) await cold.s3.removeObjects(bucket, names);
      await cold.s3.removeBucket(bucket);
      await cold.close();
    }
    await nc?.close();
    await platform?.[Symbol.asyncDispose]();
  });

  it('archives every event to Parquet, then tiers old ones out of warm exactly once, readable from cold', async () => {
    const events = sensorEvents(1200, 'c'); // event times in January 2026: older than the 30-day retention
    for (let i = 0; i < events.length; i += 300) expect((await postEvents(platform, events.slice(i, i + 300))).status).toBe(202);
    await waitForWarmCount(platform, 1200);
    await waitFor(async () => (await readColdCheckpoint(cold.sql, 'cold-events')) >= 1200, { timeoutMs: 30_000 });

    const runner = new JobRunner({
      nc,
      stream: streamName('EVENTS', { subjectRoot: platform.env['TIDEWAY_SUBJECT_ROOT']!, streamSuffix: platform.env['TIDEWAY_STREAM_SUFFIX']! }),
      scheme: { root: platform.env['TIDEWAY_SUBJECT_ROOT']!, partitions: 16 },
      warm: platform.store,
      jobs: [tieringJob({ archive: { store: cold }, retention: { defaultMs: 30 * 86_400_000 } })],
    });
    const run = await runner.run('tier-warm-to-cold', new Date(), 'manual');
    expect(run).toMatchObject({ status: 'succeeded', eventsRead: 1200 });
    expect(await platform.reader.count()).toBe(0);

    const again = await runner.rerun(run.id);
    expect(again).toMatchObject({ status: 'succeeded', eventsRead: 0 });

    const ids: string[] = [];
    for await (const e of new ColdArchiveReader({ store: cold }).events({ tenant: 'default', order: 'seq' })) ids.push(e.event.id);
    expect(ids).toEqual(events.map((e) => e['id']));
  });
});
