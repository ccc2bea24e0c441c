/**
 * Isolation for scenarios: each gets its own stream namespace (subject root + stream suffix), PostgreSQL schema
 * and Redis prefix, created here and removed when the scenario ends, and an environment for the platform's apps
 * that points them at it.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { applyDefinitions, inNamespace, loadDefinitions, streamName, type Namespace } from '@tideway/nats';
import { cleanupRedisPrefix, createPgSchema, deleteStreams, natsNamespace, redisPrefix, type PgSchema } from '@tideway/testing';
import { migrateWarmStore, openWarmStore } from '@tideway/warm';
import { repoRoot } from './children.ts';

export const streamsDir = `${repoRoot}streams`;
export const migrationsDir = `${repoRoot}migrations`;

/** A stream namespace with the platform's streams and consumers applied. */
export interface BenchNamespace extends AsyncDisposable {
  readonly ns: Namespace;
  /** The EVENTS stream's name in this namespace. */
  readonly stream: string;
  readonly scheme: { root: string; partitions: number };
}

export async function benchNamespace(natsUrl: string): Promise<BenchNamespace> {
  const ns = natsNamespace();
  const nc = await connect({ servers: natsUrl.split(','), name: 'tideway-bench-setup' });
  try {
    await applyDefinitions(await jetstreamManager(nc), inNamespace(await loadDefinitions(streamsDir), ns));
  } finally {
    await nc.close();
  }
  return {
    ns,
    stream: streamName('EVENTS', ns),
    scheme: { root: ns.subjectRoot, partitions: 16 },
    [Symbol.asyncDispose]: async () => {
      await deleteStreams(natsUrl, ns.streamSuffix);
    },
  };
}

/** A PostgreSQL schema, migrated to the warm store's tables when asked. */
export async function benchSchema(databaseUrl: string, options: { migrate?: boolean } = {}): Promise<PgSchema> {
  const pg = await createPgSchema(databaseUrl);
  if (options.migrate) {
    const store = openWarmStore({ url: databaseUrl, schema: pg.schema, max: 1 });
    try {
      await migrateWarmStore(store, migrationsDir);
    } finally {
      await store.close();
    }
  }
  return pg;
}

/** A Redis key prefix removed on dispose. */
export function benchRedisPrefix(redisUrl: string): { prefix: string } & AsyncDisposable {
  const prefix = redisPrefix();
  return { prefix, [Symbol.asyncDispose]: async () => void (await cleanupRedisPrefix(redisUrl, prefix)) };
}

/** The environment the platform's apps read, pointed at a namespace and schema. */
export function appEnv(base: Record<string, string>, space: BenchNamespace, schema: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    ...base,
    TIDEWAY_SUBJECT_ROOT: space.ns.subjectRoot,
    TIDEWAY_STREAM_SUFFIX: space.ns.streamSuffix,
    TIDEWAY_PARTITIONS: String(space.scheme.partitions),
    DATABASE_SCHEMA: schema,
    STREAMS_DIR: streamsDir,
    MIGRATIONS_DIR: migrationsDir,
    LOG_LEVEL: 'warn',
    // The bench measures the data path; API keys are the auth lib's business (every caller is the default tenant).
    TIDEWAY_AUTH: 'off',
    ...extra,
  };
}
