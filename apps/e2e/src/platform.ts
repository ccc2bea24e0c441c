import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadIngestConfig, startIngest } from '@tideway/ingest';
import { streamName } from '@tideway/nats';
import { loadProjectorConfig, startProjector } from '@tideway/projector';
import { loadQueryConfig, startQuery, type StartQueryOptions } from '@tideway/query';
import { cleanupRedisPrefix, createPgSchema, deleteStreams, natsNamespace, redisPrefix, uniqueSuffix, waitFor } from '@tideway/testing';
import { WarmEventReader, migrateWarmStore, openWarmStore, type WarmStore } from '@tideway/warm';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The platform running in-process on its own stream namespace and Postgres schema. */
export interface Platform {
  readonly env: Record<string, string>;
  readonly ingestUrl: string;
  readonly queryUrl: string;
  /**
   * The bootstrap key (an `admin` key of tenant `default`). `postEvents` and `readAll` send it; with the default
   * `auth: 'off'` the apps ignore it.
   */
  readonly apiKey: string;
  /** The platform's NATS namespace (subject root and stream suffix). */
  readonly namespace: { readonly subjectRoot: string; readonly streamSuffix: string };
  readonly store: WarmStore;
  readonly reader: WarmEventReader;
  /** Number of messages in the EVENTS stream. */
  streamMessages(): Promise<number>;
  /** Starts an in-process projector (unless one runs). */
  startProjector(): Promise<void>;
  stopProjector(): Promise<void>;
  /** Starts the projector as a child process, which a test may SIGKILL. */
  spawnProjector(): ChildProcess;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startPlatform}. */
export interface PlatformOptions {
  /** Start the in-process projector (default true). */
  readonly projector?: boolean;
  /** Extra environment for every app (applied last), e.g. `{ TIDEWAY_AUTH: 'off' }`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Options for the query service, e.g. a cold archive reader to merge into event reads. */
  readonly query?: StartQueryOptions;
}

export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const ns = natsNamespace();
  const pg = await createPgSchema(process.env['DATABASE_URL']!);
  const apiKey = `tw_bootstrap_${uniqueSuffix(24)}`;
  const redisKeys = redisPrefix();
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    TIDEWAY_SUBJECT_ROOT: ns.subjectRoot,
    TIDEWAY_STREAM_SUFFIX: ns.streamSuffix,
    DATABASE_SCHEMA: pg.schema,
    STREAMS_DIR: `${repoRoot}streams`,
    MIGRATIONS_DIR: `${repoRoot}migrations`,
    INGEST_PORT: '0',
    QUERY_PORT: '0',
    PROJECTOR_PORT: '0',
    PROJECTOR_JOBS: 'off',
    LOG_LEVEL: 'warn',
    // API keys are off unless a test asks for them (`env: { TIDEWAY_AUTH: 'required' }`), so tests that predate
    // them run unchanged; the bootstrap key is registered either way.
    TIDEWAY_AUTH: 'off',
    TIDEWAY_BOOTSTRAP_KEY: apiKey,
    INGEST_REDIS_PREFIX: redisKeys,
    ...options.env,
  };
  const ingest = await startIngest(loadIngestConfig(env), { handleSignals: false });
  const query = await startQuery(loadQueryConfig(env), { ...options.query, handleSignals: false });
  const store = openWarmStore({ url: env['DATABASE_URL']!, schema: pg.schema, max: 2 });
  await migrateWarmStore(store, env['MIGRATIONS_DIR']!);
  let projector: Awaited<ReturnType<typeof startProjector>> | undefined;
  const children: ChildProcess[] = [];
  const nc = await connect({ servers: env['NATS_URL']! });
  const jsm = await jetstreamManager(nc);

  const platform: Platform = {
    env,
    ingestUrl: `http://127.0.0.1:${ingest.port}`,
    queryUrl: `http://127.0.0.1:${query.port}`,
    apiKey,
    namespace: ns,
    store,
    reader: new WarmEventReader(store),
    streamMessages: async () => (await jsm.streams.info(streamName('EVENTS', ns))).state.messages,
    startProjector: async () => {
      projector ??= await startProjector(loadProjectorConfig(env), { handleSignals: false });
    },
    stopProjector: async () => {
      await projector?.close();
      projector = undefined;
    },
    spawnProjector: () => {
      const child = spawn(process.execPath, ['--import', 'tsx', `${repoRoot}apps/projector/src/main.ts`], {
        env,
        cwd: repoRoot,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(child);
      return child;
    },
    [Symbol.asyncDispose]: async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await projector?.close();
      await ingest.close();
      await query.close();
      await store.close();
      await nc.close();
      await deleteStreams(env['NATS_URL']!, ns.streamSuffix);
      await cleanupRedisPrefix(env['REDIS_URL']!, redisKeys);
      await pg.drop();
    },
  };
  if (options.projector !== false) await platform.startProjector();
  return platform;
}

/** POSTs JSON to the ingest API. */
export async function postEvents(platform: Platform, body: unknown, init: { contentType?: string; raw?: string } = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(`${platform.ingestUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/json', authorization: `Bearer ${platform.apiKey}` },
    body: init.raw ?? JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** Reads every event of a listing through the query API, following cursors. */
export async function readAll(platform: Platform, params: Record<string, string> = {}): Promise<{ seq: number; event: any }[]> {
  const items: { seq: number; event: any }[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ ...params, limit: params['limit'] ?? '250', ...(cursor ? { cursor } : {}) });
    const response = await fetch(`${platform.queryUrl}/v1/events?${query.toString()}`, {
      headers: { authorization: `Bearer ${platform.apiKey}` },
    });
    if (response.status !== 200) throw new Error(`query answered ${response.status}: ${await response.text()}`);
    const page = (await response.json()) as { items: { seq: number; event: any }[]; next_cursor: string | null };
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/** Waits until the warm store holds `n` events of the default tenant. */
export async function waitForWarmCount(platform: Platform, n: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await platform.reader.count()) >= n, { timeoutMs, intervalMs: 100 });
}

/** Sensor readings for tests. */
export function sensorEvents(count: number, prefix = 'dev'): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    specversion: '1.0',
    id: `${prefix}-${i}`,
    source: 'urn:test:sensors',
    type: 'iot.sensor.reading',
    subject: `${prefix}-${i % 17}`,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + i * 1000).toISOString(),
    data: { device_id: `${prefix}-${i % 17}`, reading_value: 20 + ((i * 7) % 60) },
  }));
}
