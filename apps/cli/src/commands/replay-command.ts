import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import cliProgress from 'cli-progress';
import { Redis } from 'ioredis';
import { z as zod } from 'zod';
import { ensureColdBucket, migrateColdStore, openColdStore, s3Client } from '@tideway/cold';
import { applyDefinitions, connectNats, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import { parseBound } from '@tideway/projection';
import { parseEnv } from '@tideway/service';
import type { commonEnv } from '@tideway/service';
import type { z } from 'zod';
import { rebuildProjections } from './replay.ts';

type CommonConfig = { [K in keyof typeof commonEnv]: z.infer<(typeof commonEnv)[K]> };

export const REPLAY_USAGE = `usage: tideway replay --projection <warm|hot|cold|all> [--from <seq|time>] [--to <seq|time>] [--drop-replaced]

Rebuilds projections from the log into shadow versions (a PostgreSQL schema, a Redis key generation) while the
live ones keep serving, then swaps them in atomically. warm = events + entity state and derived tables; hot =
entity state and derived signals in Redis; cold = the S3 Parquet archive (needs S3_ENDPOINT); all = every tier. With --to the replay is a bounded batch run into the
shadows, which are kept and not swapped.`;

/** `tideway replay`: rebuild projections from the log with a progress bar and a summary. */
export async function replayCommand(argv: string[], config: CommonConfig): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      projection: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'drop-replaced': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const scope = values.projection;
  if (scope !== 'warm' && scope !== 'hot' && scope !== 'cold' && scope !== 'all') {
    console.error(REPLAY_USAGE);
    return 2;
  }
  const range = { ...parseBound(values.from, 'from'), ...parseBound(values.to, 'to') };
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-replay' });
  const redis = scope === 'hot' || scope === 'all' ? new Redis(config.REDIS_URL) : undefined;
  const s3 = parseEnv(
    {
      S3_ENDPOINT: zod.string().url().optional(),
      S3_ACCESS_KEY: zod.string().default('minioadmin'),
      S3_SECRET_KEY: zod.string().default('minioadmin'),
      S3_REGION: zod.string().default('us-east-1'),
      COLD_BUCKET: zod.string().default('tideway-cold'),
      COLD_PREFIX: zod.string().default('events'),
    },
    process.env,
  );
  if ((scope === 'cold' || scope === 'all') && !s3.S3_ENDPOINT) {
    console.error('the cold tier needs S3_ENDPOINT (and S3_ACCESS_KEY, S3_SECRET_KEY)');
    return 2;
  }
  const cold =
    (scope === 'cold' || scope === 'all') && s3.S3_ENDPOINT
      ? openColdStore({
          url: config.DATABASE_URL,
          schema: config.DATABASE_SCHEMA,
          s3: s3Client({ endpoint: s3.S3_ENDPOINT, accessKey: s3.S3_ACCESS_KEY, secretKey: s3.S3_SECRET_KEY, region: s3.S3_REGION }),
          bucket: s3.COLD_BUCKET,
        })
      : undefined;
  const bars = new cliProgress.MultiBar(
    { format: '{projection} {phase} [{bar}] {percentage}% | seq {value}/{total} | {events} events', clearOnComplete: false, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  const bar = new Map<string, cliProgress.SingleBar>();
  try {
    await applyDefinitions(await jetstreamManager(nats.nc), inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace));
    if (cold) {
      await migrateColdStore(cold, `${config.MIGRATIONS_DIR}/cold`);
      await ensureColdBucket(cold, s3.S3_REGION);
    }
    const summary = await rebuildProjections({
      nc: nats.nc,
      scheme: { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS },
      streamName: (base) => streamName(base, namespace),
      databaseUrl: config.DATABASE_URL,
      schema: config.DATABASE_SCHEMA,
      migrationsDir: config.MIGRATIONS_DIR,
      ...(redis ? { redis, hotPrefix: config.HOT_PREFIX } : {}),
      ...(cold ? { cold, coldPrefix: s3.COLD_PREFIX } : {}),
      scope: scope,
      range,
      dropReplaced: values['drop-replaced'],
      onProgress: (p) => {
        const id = `${p.projection} ${p.phase}`;
        let b = bar.get(id);
        if (!b) {
          b = bars.create(p.lastSeq, 0, { projection: p.projection.padEnd(12), phase: p.phase.padEnd(8), events: 0 });
          bar.set(id, b);
        }
        b.setTotal(p.lastSeq);
        b.update(p.seq, { events: p.events });
      },
    });
    bars.stop();
    console.log(`\n${summary.swapped ? 'rebuilt and swapped in' : 'replayed into shadows (bounded run: not swapped)'} in ${summary.seconds.toFixed(1)} s`);
    for (const p of summary.projections) console.log(`  ${p.projection.padEnd(14)} ${String(p.events).padStart(10)} events   checkpoint ${p.checkpoint}`);
    if (summary.warm) console.log(`  warm           ${summary.warm.events} rows, ${summary.warm.entities} entities, checksum ${summary.warm.checksum}${summary.shadowSchema ? ` (in schema ${summary.shadowSchema})` : ''}`);
    if (summary.replacedSchema) console.log(`  previous warm tables kept in schema ${summary.replacedSchema} (drop it when satisfied)`);
    if (summary.coldShadow) console.log(`  cold           ${summary.coldShadow.objects} objects${summary.swapped ? '' : ` (shadow projection ${summary.coldShadow.name}, prefix ${summary.coldShadow.prefix})`}`);
    if (summary.hot) console.log(`  hot            ${summary.hot.keys} keys, checksum ${summary.hot.sha256} (generation ${summary.hotPrefix})`);
    return 0;
  } finally {
    bars.stop();
    await redis?.quit();
    await cold?.close();
    await nats.nc.close();
  }
}
