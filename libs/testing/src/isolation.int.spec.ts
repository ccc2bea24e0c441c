import { Readable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import {
  cleanupRedisPrefix,
  createPgSchema,
  createS3Bucket,
  deleteStreams,
  sweepStaleStreams,
  natsNamespace,
  redisPrefix,
  uniqueSuffix,
  waitFor,
  withSearchPath,
} from './index.ts';

const env = process.env;
const DATABASE_URL = env['DATABASE_URL']!;
const REDIS_URL = env['REDIS_URL']!;
const NATS_URL = env['NATS_URL']!;

async function query<T extends postgres.Row>(url: string, fn: (sql: postgres.Sql) => Promise<T[]>): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

describe('uniqueSuffix', () => {
  it('is 8 characters of [a-z0-9] and differs between calls', () => {
    const suffixes = new Set(Array.from({ length: 1000 }, () => uniqueSuffix()));
    expect(suffixes.size).toBe(1000);
    for (const s of suffixes) expect(s).toMatch(/^[a-z0-9]{8}$/);
  });
});

describe('createPgSchema', () => {
  it('creates a schema that connections made with its url use by default, and drops it', async () => {
    const pg = await createPgSchema(DATABASE_URL);
    expect(pg.schema).toMatch(/^t_[a-z0-9]{8}$/);

    const [searchPath] = await query(pg.url, (sql) => sql`show search_path`);
    expect(searchPath?.['search_path']).toBe(pg.schema);

    await query(pg.url, (sql) => sql`create table widgets (id int primary key)`);
    const tables = await query(
      DATABASE_URL,
      (sql) =>
        sql`select table_schema from information_schema.tables where table_name = 'widgets' and table_schema = ${pg.schema}`,
    );
    expect(tables).toHaveLength(1);

    await pg.drop();
    await pg[Symbol.asyncDispose](); // a second drop is harmless
    const schemas = await query(
      DATABASE_URL,
      (sql) => sql`select 1 from information_schema.schemata where schema_name = ${pg.schema}`,
    );
    expect(schemas).toHaveLength(0);
  });

  it('works with `await using`', async () => {
    let schema = '';
    {
      await using pg = await createPgSchema(DATABASE_URL);
      schema = pg.schema;
    }
    const schemas = await query(
      DATABASE_URL,
      (sql) => sql`select 1 from information_schema.schemata where schema_name = ${schema}`,
    );
    expect(schemas).toHaveLength(0);
  });

  it('keeps options already in the url', async () => {
    const url = withSearchPath(`${DATABASE_URL}?options=${encodeURIComponent('-c statement_timeout=1234')}`, 'public');
    const [row] = await query(
      url,
      (sql) => sql`select current_setting('statement_timeout') as t, current_setting('search_path') as p`,
    );
    expect(row).toEqual({ t: '1234ms', p: 'public' });
  });
});

describe('redis prefixes', () => {
  it('cleanupRedisPrefix deletes the keys under the prefix and nothing else', async () => {
    const prefix = redisPrefix();
    expect(prefix).toMatch(/^t_[a-z0-9]{8}:$/);
    const other = `${redisPrefix()}keep`;
    const redis = new Redis(REDIS_URL);
    try {
      const pipeline = redis.pipeline();
      for (let i = 0; i < 2500; i++) pipeline.set(`${prefix}k${i}`, '1');
      pipeline.hset(`${prefix}hash`, 'f', 'v');
      pipeline.set(other, '1');
      await pipeline.exec();

      expect(await cleanupRedisPrefix(REDIS_URL, prefix)).toBe(2501);
      expect(await redis.keys(`${prefix}*`)).toEqual([]);
      expect(await redis.get(other)).toBe('1');
    } finally {
      await redis.del(other);
      redis.disconnect();
    }
  });

  it('refuses an empty prefix', async () => {
    await expect(cleanupRedisPrefix(REDIS_URL, '')).rejects.toThrow(/empty prefix/);
  });
});

describe('createS3Bucket', () => {
  it('makes a bucket to put and get objects in, and removes it with its objects', async () => {
    const bucket = await createS3Bucket(env);
    expect(bucket.name).toMatch(/^t-[a-z0-9]{8}$/);
    const { client } = bucket;

    const small = Buffer.from('hello tideway');
    await client.putObject(bucket.name, 'dir/small.txt', small, small.length);
    // Larger than minio's default 64 MiB part size: without the client's big part size this would be a multipart
    // upload, which s3rver fails.
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const chunks = 65;
    await client.putObject(
      bucket.name,
      'big.bin',
      Readable.from(Array.from({ length: chunks }, () => chunk)),
      chunk.length * chunks,
    );

    const body = await client.getObject(bucket.name, 'dir/small.txt');
    const read: Buffer[] = [];
    for await (const part of body) read.push(part as Buffer);
    expect(Buffer.concat(read).toString()).toBe('hello tideway');
    expect((await client.statObject(bucket.name, 'big.bin')).size).toBe(chunk.length * chunks);

    await bucket[Symbol.asyncDispose]();
    await bucket.remove(); // a second remove is harmless
    expect(await client.bucketExists(bucket.name)).toBe(false);
  });
});

describe('NATS namespaces', () => {
  it('natsNamespace has the shape of @tideway/nats Namespace', () => {
    const ns = natsNamespace();
    expect(ns.subjectRoot).toMatch(/^t_[a-z0-9]{8}$/);
    expect(ns.streamSuffix).toBe(`_${ns.subjectRoot.slice(2).toUpperCase()}`);
  });

  it('deleteStreams deletes the streams with the suffix and no other', async () => {
    const ns = natsNamespace();
    const other = natsNamespace();
    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: `EVENTS${ns.streamSuffix}`, subjects: [`${ns.subjectRoot}.events.>`] });
      await jsm.streams.add({ name: `AUDIT${ns.streamSuffix}`, subjects: [`${ns.subjectRoot}.audit.>`] });
      await jsm.streams.add({ name: `EVENTS${other.streamSuffix}`, subjects: [`${other.subjectRoot}.events.>`] });

      const deleted = await deleteStreams(NATS_URL, ns.streamSuffix);
      expect(deleted.sort()).toEqual([`AUDIT${ns.streamSuffix}`, `EVENTS${ns.streamSuffix}`]);

      const names: string[] = [];
      for await (const name of jsm.streams.names()) names.push(name);
      expect(names).not.toContain(`EVENTS${ns.streamSuffix}`);
      expect(names).not.toContain(`AUDIT${ns.streamSuffix}`);
      expect(names).toContain(`EVENTS${other.streamSuffix}`);
    } finally {
      await deleteStreams(NATS_URL, other.streamSuffix);
      await nc.close();
    }
  });

  it('refuses an empty suffix', async () => {
    await expect(deleteStreams(NATS_URL, '')).rejects.toThrow(/empty suffix/);
  });

  it('sweepStaleStreams deletes namespaced streams only once they are old and have stored nothing for as long', async () => {
    const idle = natsNamespace();
    const busy = natsNamespace();
    const nc = await connect({ servers: NATS_URL });
    // only this test's streams (others may be running on the same server)
    const mine = new RegExp(`(${idle.streamSuffix}|${busy.streamSuffix})$`);
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: `EVENTS${idle.streamSuffix}`, subjects: [`${idle.subjectRoot}.events.>`] });
      await jsm.streams.add({ name: `EVENTS${busy.streamSuffix}`, subjects: [`${busy.subjectRoot}.events.>`] });
      expect(await sweepStaleStreams(NATS_URL, { names: mine })).toEqual([]); // both young
      const created = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await nc.request(`${busy.subjectRoot}.events.x`, new TextEncoder().encode('{}'));
      // a second later: both were created over a second ago, only one has stored nothing since
      expect(await sweepStaleStreams(NATS_URL, { names: mine, olderThanMs: Date.now() - created - 500 })).toEqual([`EVENTS${idle.streamSuffix}`]);
      const names: string[] = [];
      for await (const name of jsm.streams.names()) names.push(name);
      expect(names).toContain(`EVENTS${busy.streamSuffix}`);
      expect(names).not.toContain(`EVENTS${idle.streamSuffix}`);
      // a stream named like a namespace's but storing other subjects is not one (a deployment's `ORDERS_ARCHIVE1`)
      const lookalike = `LOOK${idle.streamSuffix}`;
      await jsm.streams.add({ name: lookalike, subjects: [`orders${idle.subjectRoot.slice(1)}.>`] });
      try {
        expect(await sweepStaleStreams(NATS_URL, { olderThanMs: -60_000, names: new RegExp(`${lookalike}$`) })).toEqual([]);
      } finally {
        await jsm.streams.delete(lookalike);
      }
    } finally {
      await deleteStreams(NATS_URL, idle.streamSuffix);
      await deleteStreams(NATS_URL, busy.streamSuffix);
      await nc.close();
    }
  });
});

describe('waitFor', () => {
  it('resolves with the first value that is not undefined, null or false', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
        return calls < 5 ? false : { calls };
      },
      { intervalMs: 1 },
    );
    expect(value).toEqual({ calls: 5 });
  });

  it('rejects on timeout with the description and the last error', async () => {
    const failure = waitFor(
      () => {
        throw new Error('still empty');
      },
      { timeoutMs: 100, intervalMs: 10, description: 'row projected' },
    );
    await expect(failure).rejects.toThrow(/"row projected" not met within 100 ms .*last error: still empty/);
  });
});
