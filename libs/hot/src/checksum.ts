import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HotKeys } from './keys.ts';

/** A digest of a hot store's content. */
export interface HotChecksum {
  /** Keys digested. */
  readonly keys: number;
  /** SHA-256 (hex) over every key (without the prefix), its type, its absolute expiry and its value, in key order. */
  readonly sha256: string;
}

const CHUNK = 1000;

function flatten(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => flatten(v));
  if (value instanceof Map) return [...value.entries()].flatMap(([k, v]) => [String(k), ...flatten(v)]);
  return [String(value)];
}

/**
 * Digests everything a hot store holds under `prefix` except its locks, so two prefixes (the live store and a
 * rebuild, or a store before and after `tideway replay`) can be compared. Expiry times are part of the digest:
 * the store derives them from event times, so a rebuild gives the same ones. Reads with SCAN and pipelines of
 * 1000 commands.
 */
export async function hotChecksum(redis: Redis, prefix: string): Promise<HotChecksum> {
  const store = new HotKeys(prefix);
  const lockPrefix = store.lock('');
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', store.pattern(), 'COUNT', CHUNK);
    cursor = next;
    for (const key of found) if (!key.startsWith(lockPrefix)) keys.push(key);
  } while (cursor !== '0');
  const unique = [...new Set(keys)].sort();
  const hash = createHash('sha256');
  for (let i = 0; i < unique.length; i += CHUNK) {
    const chunk = unique.slice(i, i + CHUNK);
    const meta = redis.pipeline();
    for (const key of chunk) meta.type(key).pexpiretime(key);
    const metaReplies = (await meta.exec()) ?? [];
    const types = chunk.map((_, j) => String(metaReplies[2 * j]?.[1]));
    const read = redis.pipeline();
    chunk.forEach((key, j) => {
      const type = types[j];
      if (type === 'string') read.get(key);
      else if (type === 'zset') read.zrange(key, '0', '-1', 'WITHSCORES');
      else if (type === 'hash') read.hgetall(key);
      else if (type === 'list') read.lrange(key, 0, -1);
      else if (type === 'set') read.smembers(key);
      else read.exists(key);
    });
    const values = (await read.exec()) ?? [];
    chunk.forEach((key, j) => {
      const type = types[j]!;
      let value = flatten(values[j]?.[1]);
      if (type === 'set') value = value.sort();
      if (type === 'hash') {
        const pairs: string[][] = [];
        for (let p = 0; p < value.length; p += 2) pairs.push([value[p]!, value[p + 1]!]);
        value = pairs.sort((a, b) => (a[0]! < b[0]! ? -1 : 1)).flat();
      }
      hash.update(
        `${key.slice(prefix.length)}\u0000${type}\u0000${String(metaReplies[2 * j + 1]?.[1])}\u0000${JSON.stringify(value)}\n`,
      );
    });
  }
  return { keys: unique.length, sha256: hash.digest('hex') };
}
