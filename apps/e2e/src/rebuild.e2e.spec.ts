import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildWarm } from '@tideway/cli';
import { dropSchema, warmChecksum } from '@tideway/warm';
import { postEvents, sensorEvents, startPlatform, waitForWarmCount, type Platform } from './platform.ts';

describe('tideway replay: rebuild the warm projection into a shadow and swap it in', () => {
  let platform: Platform;
  let nc: NatsConnection;
  beforeAll(async () => {
    platform = await startPlatform();
    nc = await connect({ servers: platform.env['NATS_URL']! });
  });
  afterAll(async () => {
    await nc?.close();
    await platform?.[Symbol.asyncDispose]();
  });

  const options = () => ({
    nc,
    stream: `EVENTS${platform.env['TIDEWAY_STREAM_SUFFIX']}`,
    scheme: { root: platform.env['TIDEWAY_SUBJECT_ROOT']!, partitions: 16 },
    databaseUrl: platform.env['DATABASE_URL']!,
    schema: platform.env['DATABASE_SCHEMA']!,
    migrationsDir: platform.env['MIGRATIONS_DIR']!,
    dropReplaced: true,
  });

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
      while (ingesting) acked.push(...(await post(sensorEvents(100, `live${round++}`))));
    })();
    const summary = await rebuildWarm({ ...options(), range: {} });
    ingesting = false;
    await live;
    expect(summary.swapped).toBe(true);

    await waitForWarmCount(platform, acked.length);
    await new Promise((r) => setTimeout(r, 300));
    const rows = await platform.store.sql<{ id: string; n: number }[]>`select id, count(*)::int as n from events group by id`;
    expect(rows.every((r) => r.n === 1)).toBe(true);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(acked));

    // the rebuilt-then-incrementally-continued store equals a replay from scratch of the same range
    const incremental = await warmChecksum(platform.store);
    const clean = await rebuildWarm({ ...options(), range: { toSeq: await platform.streamMessages() } });
    expect(clean.swapped).toBe(false);
    expect(clean.checksum).toBe(incremental.checksum);
    expect(clean.rows).toBe(acked.length);
    await dropSchema(platform.store, clean.shadow);
  });

  it('restores a truncated warm table to the same checksum', async () => {
    const before = await warmChecksum(platform.store);
    await platform.store.sql`truncate events, entity_state`;
    expect((await warmChecksum(platform.store)).events).toBe(0);
    const summary = await rebuildWarm({ ...options(), range: {} });
    expect(summary.swapped).toBe(true);
    const after = await warmChecksum(platform.store);
    expect(after).toEqual(before);
  });
});
