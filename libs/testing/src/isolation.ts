/**
 * Per-test-file isolation on shared servers: one NATS, PostgreSQL, Redis and S3 server serve the whole run, and
 * each test file works in its own Postgres schema, Redis key prefix, S3 bucket and NATS subject root / stream
 * suffix, removed when the file is done (`await using`, or an explicit dispose in `afterAll`).
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { Client as MinioClient, type BucketItem } from 'minio';
import postgres from 'postgres';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A short random name part: 8 characters of `[a-z0-9]` (41 bits), safe in schema, key, bucket, subject and stream
 * names.
 */
export function uniqueSuffix(length = 8): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 252 = 7 * 36: dropping bytes above it keeps every character equally likely.
      if (byte < 252 && out.length < length) out += ALPHABET[byte % 36];
    }
  }
  return out;
}

/** Stream names a namespace gives (`<NAME>_<8 of [A-Z0-9]>`). */
const NAMESPACED_STREAM = /_([A-Z0-9]{8})$/;

/**
 * Whether a stream is one a {@link natsNamespace} made: its name ends with the namespace's suffix and every subject
 * it stores lives under the namespace's subject root (`t_<suffix>.`), a signature no deployment's stream has.
 */
function isNamespaced(name: string, subjects: readonly string[] | undefined): boolean {
  const suffix = NAMESPACED_STREAM.exec(name)?.[1];
  if (suffix === undefined || subjects === undefined || subjects.length === 0) return false;
  const root = `t_${suffix.toLowerCase()}.`;
  return subjects.every((subject) => subject.startsWith(root));
}

/**
 * Deletes namespaced JetStream streams (see {@link natsNamespace}: a `_<SUFFIX>` name whose subjects all live under
 * `t_<suffix>.`) that a killed test or bench run left behind: those created more than `olderThanMs` ago (default
 * an hour) that have stored nothing since (`names` narrows them further). A disposal that
 * never ran (SIGKILL, a timeout) leaves a namespace's streams on the shared server, and hundreds of them made
 * nats-server spend CPU in the background. A namespace in use is younger than an hour or still being written.
 * Returns the names deleted.
 */
export async function sweepStaleStreams(natsUrl: string, options: { olderThanMs?: number; names?: RegExp; now?: number } = {}): Promise<string[]> {
  const olderThan = options.olderThanMs ?? 3_600_000;
  const names = options.names ?? /./;
  const cutoff = (options.now ?? Date.now()) - olderThan;
  const nc = await connect({ servers: natsUrl.split(','), name: 'tideway-testing-sweep' });
  try {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    for await (const info of jsm.streams.list()) {
      if (!isNamespaced(info.config.name, info.config.subjects) || !names.test(info.config.name)) continue;
      const created = Date.parse(info.created);
      const last = info.state.last_seq > 0 ? Date.parse(info.state.last_ts) : created;
      if (created < cutoff && last < cutoff) doomed.push(info.config.name);
    }
    for (const name of doomed) await jsm.streams.delete(name).catch(() => undefined);
    return doomed;
  } finally {
    await nc.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

/** A Postgres schema that exists for one test file. */
export interface PgSchema extends AsyncDisposable {
  /** `t_<suffix>`. */
  readonly schema: string;
  /** The database URL with `options=-c search_path=<schema>`: every connection made with it defaults to the schema. */
  readonly url: string;
  /** `DROP SCHEMA ... CASCADE`; safe to call twice. */
  drop(): Promise<void>;
}

/**
 * Returns `databaseUrl` with its connections' `search_path` set to `schema`, through the `options` startup
 * parameter (honoured by postgres.js, which passes unknown query parameters as startup parameters, and by libpq).
 * An `options` value already in the URL is kept, with the setting appended.
 */
export function withSearchPath(databaseUrl: string, schema: string): string {
  const url = new URL(databaseUrl);
  const existing = url.searchParams.get('options');
  url.searchParams.delete('options');
  const options = `${existing === null ? '' : `${existing} `}-c search_path=${schema}`;
  const base = url.toString();
  // encodeURIComponent, not URLSearchParams: libpq decodes `%20` but not `+` as a space.
  return `${base}${url.search === '' ? '?' : '&'}options=${encodeURIComponent(options)}`;
}

/**
 * Creates a fresh schema `t_<suffix>` and returns a URL whose connections default to it, so code under test can
 * create and query unqualified tables without meeting other test files' tables.
 *
 * @example
 * await using pg = await createPgSchema(process.env['DATABASE_URL']!);
 * const sql = postgres(pg.url); // `create table events (...)` lands in pg.schema
 */
export async function createPgSchema(databaseUrl: string): Promise<PgSchema> {
  const schema = `t_${uniqueSuffix()}`;
  await withSql(databaseUrl, (sql) => sql`create schema ${sql(schema)}`);
  let dropped: Promise<void> | undefined;
  const drop = (): Promise<void> =>
    (dropped ??= withSql(databaseUrl, (sql) => sql`drop schema if exists ${sql(schema)} cascade`).then(() => {}));
  return { schema, url: withSearchPath(databaseUrl, schema), drop, [Symbol.asyncDispose]: drop };
}

async function withSql<T>(databaseUrl: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Redis

/** A key prefix `t_<suffix>:` for one test file; remove its keys with {@link cleanupRedisPrefix}. */
export function redisPrefix(): string {
  return `t_${uniqueSuffix()}:`;
}

/**
 * Deletes every key that starts with `prefix` (found with SCAN, removed with UNLINK) and returns how many it
 * deleted. Refuses an empty prefix, which would match every key.
 */
export async function cleanupRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  if (prefix === '') throw new Error('cleanupRedisPrefix: refusing an empty prefix (it would delete every key)');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let deleted = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------------------------
// S3

/** The S3 settings `ensureServices` exports (`S3_ENDPOINT`, `S3_ACCESS_KEY`, `S3_SECRET_KEY`, `S3_REGION`). */
export type S3Env = Readonly<Record<string, string | undefined>>;

/** s3rver fails every multipart upload, so the client must put every object in one request. */
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

/**
 * A `minio` client for the S3 server in `env`. The part size is the largest S3 allows, so `putObject` with a
 * known size (a Buffer, or a stream with its size passed) is one PUT: s3rver supports no multipart upload.
 */
export function createS3Client(env: S3Env): MinioClient {
  const endpoint = env['S3_ENDPOINT'];
  if (endpoint === undefined || endpoint === '')
    throw new Error('createS3Client: S3_ENDPOINT is not set (ensureServices sets it)');
  const url = new URL(endpoint);
  const useSSL = url.protocol === 'https:';
  return new MinioClient({
    endPoint: url.hostname,
    port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: env['S3_ACCESS_KEY'] ?? 'S3RVER',
    secretKey: env['S3_SECRET_KEY'] ?? 'S3RVER',
    region: env['S3_REGION'] ?? 'us-east-1',
    pathStyle: true,
    partSize: MAX_PART_SIZE,
  });
}

/** An S3 bucket that exists for one test file. */
export interface S3Bucket extends AsyncDisposable {
  /** `t-<suffix>` (S3 bucket names allow no underscore). */
  readonly name: string;
  /** A client for the same server, configured as by {@link createS3Client}. */
  readonly client: MinioClient;
  /** Deletes every object in the bucket, then the bucket; safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Creates a bucket with a unique name on the S3 server in `env`.
 *
 * @example
 * await using bucket = await createS3Bucket(process.env);
 * const body = Buffer.from('hello');
 * await bucket.client.putObject(bucket.name, 'a.txt', body, body.length);
 */
export async function createS3Bucket(env: S3Env): Promise<S3Bucket> {
  const client = createS3Client(env);
  const name = `t-${uniqueSuffix()}`;
  await client.makeBucket(name, env['S3_REGION'] ?? 'us-east-1');
  let removed: Promise<void> | undefined;
  const remove = (): Promise<void> => (removed ??= emptyAndRemoveBucket(client, name));
  return { name, client, remove, [Symbol.asyncDispose]: remove };
}

async function emptyAndRemoveBucket(client: MinioClient, bucket: string): Promise<void> {
  if (!(await client.bucketExists(bucket))) return;
  const names: string[] = [];
  // BucketStream is typed as a plain ReadableStream, whose async iterator yields `any`.
  for await (const item of client.listObjectsV2(bucket, '', true) as AsyncIterable<BucketItem>) {
    if (item.name !== undefined) names.push(item.name);
  }
  for (let i = 0; i < names.length; i += 1000) await client.removeObjects(bucket, names.slice(i, i + 1000));
  await client.removeBucket(bucket);
}

// ---------------------------------------------------------------------------------------------------------------
// NATS

/**
 * A NATS namespace for one test file, structurally the `Namespace` of `@tideway/nats`: subjects under
 * `t_<suffix>` instead of the production root, and stream names ending in `_<SUFFIX>`.
 */
export function natsNamespace(): { subjectRoot: string; streamSuffix: string } {
  const suffix = uniqueSuffix();
  return { subjectRoot: `t_${suffix}`, streamSuffix: `_${suffix.toUpperCase()}` };
}

/**
 * Deletes every JetStream stream whose name ends with `suffix` (a namespace's `streamSuffix`) and returns their
 * names. Refuses an empty suffix, which would match every stream.
 */
export async function deleteStreams(natsUrl: string, suffix: string): Promise<string[]> {
  if (suffix === '') throw new Error('deleteStreams: refusing an empty suffix (it would delete every stream)');
  const nc = await connect({ servers: natsUrl.split(','), name: 'tideway-testing-cleanup' });
  try {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    for await (const name of jsm.streams.names()) if (name.endsWith(suffix)) doomed.push(name);
    for (const name of doomed) await jsm.streams.delete(name);
    return doomed;
  } finally {
    await nc.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Polling

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long; 10 s by default. */
  readonly timeoutMs?: number;
  /** Pause between attempts; 50 ms by default. */
  readonly intervalMs?: number;
  /** What is being waited for, quoted in the timeout error. */
  readonly description?: string;
}

/**
 * Calls `fn` until it returns something other than `undefined`, `null` or `false`, and resolves with that value.
 * A throw counts as "not yet". On timeout it rejects with the description, the last value or error (as `cause`).
 *
 * @example
 * const row = await waitFor(async () => (await sql`select * from events where id = ${id}`)[0], {
 *   timeoutMs: 5_000,
 *   description: `event ${id} projected`,
 * });
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const started = Date.now();
  let attempts = 0;
  let last: { error: unknown } | { value: unknown } = { value: undefined };
  for (;;) {
    attempts++;
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false)
        return value as Exclude<T, undefined | null | false>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() - started + intervalMs > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const what = options.description === undefined ? 'condition' : `"${options.description}"`;
  const lastText =
    'error' in last
      ? `last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`
      : `last value: ${String(last.value)}`;
  throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms (${attempts} attempts; ${lastText})`, {
    cause: 'error' in last ? last.error : undefined,
  });
}
