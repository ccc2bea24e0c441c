/**
 * Raw references, measured in the same run with the same payloads as the scenarios: what NATS JetStream,
 * PostgreSQL and Redis do for a plain Node client on this machine. Every budget ratio divides by one of these.
 */
import { Agent } from '../lib/children.ts';
import { repeat, type BenchContext, type ResultRow } from '../lib/measure.ts';
import { benchNamespace, benchRedisPrefix, benchSchema } from '../lib/platform.ts';

interface Rate {
  rate: number;
  seconds: number;
}

export async function references(ctx: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const q = ctx.quick;
  const nats = await Agent.start('raw-client', 'nats-raw');
  try {
    await using space = await benchNamespace(ctx.env['NATS_URL']!);
    const natsUrl = ctx.env['NATS_URL']!;
    let tag = 0;
    const window = 1024;
    for (const mode of ['js', 'core'] as const) {
      const count = mode === 'js' ? (q ? 20_000 : 150_000) : q ? 60_000 : 400_000;
      const r = await repeat(ctx, `publish (${mode})`, () => [nats.proc], async (_i, hooks) => {
        // A fresh stream per run: every run appends to an empty stream with an empty de-duplication window.
        await using fresh = await benchNamespace(natsUrl);
        const out = await nats.run<Rate & { failed: number; duplicates: number }>(
          { op: 'publish', mode, natsUrl, scheme: fresh.scheme, idPrefix: `pub-${mode}-${++tag}`, count, window },
          hooks,
        );
        if (out.failed > 0 || out.duplicates > 0) throw new Error(`publish ${mode}: ${out.failed} failed, ${out.duplicates} duplicates`);
        return { value: out.rate, seconds: out.seconds };
      });
      rows.push({
        id: `ref.publish.${mode}`,
        scenario: 'references',
        name: mode === 'js' ? `JetStream publish, js.publish (noAsyncTraces, Nats-Msg-Id), ${window} in flight` : `JetStream publish, core requests + Nats-Msg-Id, ${window} in flight`,
        unit: 'msg/s',
        ...r,
        details: { count, window },
      });
    }

    // Consumers read a stream pre-filled with the same stored envelopes.
    const filled = q ? 60_000 : 400_000;
    ctx.progress(`pre-filling ${space.stream} with ${filled} events`);
    await nats.run({ op: 'publish', mode: 'core', natsUrl, scheme: space.scheme, idPrefix: 'fill', count: filled, window: 4096 });
    for (const mode of ['ack-each', 'ack-batch', 'ordered'] as const) {
      const ackEvery = 1000;
      const r = await repeat(ctx, `consume (${mode})`, () => [nats.proc], async (_i, hooks) => {
        const out = await nats.run<Rate>({ op: 'consume', mode, natsUrl, stream: space.stream, count: filled, ackEvery, pull: 1000 }, hooks);
        return { value: out.rate, seconds: out.seconds };
      });
      const name = {
        'ack-each': 'JetStream pull consume, ack every message',
        'ack-batch': `JetStream pull consume, ack-all policy, ack every ${ackEvery}th`,
        ordered: 'JetStream ordered consumer (no acks)',
      }[mode];
      rows.push({ id: `ref.consume.${mode}`, scenario: 'references', name, unit: 'msg/s', ...r, details: { count: filled, pull: 1000 } });
    }
  } finally {
    await nats.stop();
  }

  const pg = await Agent.start('raw-client', 'pg-write');
  try {
    await using schema = await benchSchema(ctx.env['DATABASE_URL']!, { migrate: true });
    const databaseUrl = ctx.env['DATABASE_URL']!;
    const cases = [
      { id: 'ref.copy.events', mode: 'copy', table: 'events', count: q ? 30_000 : 200_000, name: 'PostgreSQL COPY into the warm events table (same columns, indexes, daily partitions)' },
      { id: 'ref.copy.bare', mode: 'copy', table: 'bare', count: q ? 30_000 : 200_000, name: 'PostgreSQL COPY into a bare table (same columns, no indexes)' },
      { id: 'ref.pgwrite.multirow', mode: 'multirow', table: 'events', count: q ? 40_000 : 50_000, name: 'warm table, 1000-row INSERT … ON CONFLICT DO NOTHING per transaction' },
      { id: 'ref.pgwrite.unnest', mode: 'unnest', table: 'events', count: q ? 40_000 : 50_000, name: 'warm table, INSERT … SELECT FROM unnest(arrays) per 1000-row transaction' },
      { id: 'ref.pgwrite.copy-batched', mode: 'copy-batched', table: 'events', count: q ? 40_000 : 50_000, name: 'warm table, COPY per 1000-row transaction' },
    ] as const;
    // The per-transaction write shapes are a comparison for the warm write path, not a reference: full runs only.
    for (const c of cases.filter((c) => !q || c.mode === 'copy')) {
      const r = await repeat(ctx, c.id, () => [pg.proc], async (_i, hooks) => {
        const out = await pg.run<Rate>({ databaseUrl, schema: schema.schema, mode: c.mode, table: c.table, count: c.count, batch: 1000, idPrefix: 'copy' }, hooks);
        return { value: out.rate, seconds: out.seconds };
      });
      rows.push({ id: c.id, scenario: 'references', name: c.name, unit: 'rows/s', ...r, details: { count: c.count } });
    }
  } finally {
    await pg.stop();
  }

  const redis = await Agent.start('raw-client', 'redis-write');
  try {
    await using prefix = benchRedisPrefix(ctx.env['REDIS_URL']!);
    const count = q ? 50_000 : 300_000;
    const r = await repeat(ctx, 'redis pipelines', () => [redis.proc], async (_i, hooks) => {
      const out = await redis.run<Rate>({ redisUrl: ctx.env['REDIS_URL']!, prefix: prefix.prefix, count, pipeline: 1000, idPrefix: 'redis' }, hooks);
      return { value: out.rate, seconds: out.seconds };
    });
    rows.push({ id: 'ref.redis.hset', scenario: 'references', name: 'Redis HSET, ioredis pipelines of 1000', unit: 'ops/s', ...r, details: { count } });
  } finally {
    await redis.stop();
  }
  return rows;
}
