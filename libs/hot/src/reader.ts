import type { Redis } from 'ioredis';
import type { EntityRef, EntityState } from '@tideway/entities';
import type { StoredSignal, StoredWindowResult } from './derived.ts';
import { HotStoreError, HotStoreErrorCode, requireOption } from './errors.ts';
import { HotKeys, parseWindowIndexMember, windowIndexMember } from './keys.ts';

/** Options of {@link HotStoreReader}. */
export interface HotStoreReaderOptions {
  /** An ioredis client. The reader never closes it. */
  readonly redis: Redis;
  /** The prefix the store writes under (the live one, or a shadow being checked). */
  readonly prefix: string;
}

/** Which window results to return. */
export interface WindowResultQuery {
  /** One window stage of the pipeline; omitted: all. */
  readonly stage?: string;
  /** One key; omitted: all (of the most recently active `maxKeys` stage/key pairs). */
  readonly key?: string;
  /** Window start at or after (epoch ms). */
  readonly from?: number;
  /** Window start at or before (epoch ms). */
  readonly to?: number;
  /** `open`: not final yet; `final`: closed for good; default `all`. */
  readonly status?: 'open' | 'final' | 'all';
  /** Most results returned, newest window start first. Default 100. */
  readonly limit?: number;
  /** Without both `stage` and `key`: how many of the most recently active stage/key pairs to read. Default 1000. */
  readonly maxKeys?: number;
}

/** Which anomalies or alerts to return. */
export interface SignalQuery {
  /** Only this pipeline's. */
  readonly pipeline?: string;
  /** Only this series key's. */
  readonly key?: string;
  /** Event time at or after (epoch ms). */
  readonly since?: number;
  /** Event time at or before (epoch ms). */
  readonly until?: number;
  /** Most returned, newest first. Default 100. */
  readonly limit?: number;
}

const MAX_LIMIT = 10_000;

function limitOf(limit: number | undefined): number {
  const n = limit ?? 100;
  requireOption(
    Number.isSafeInteger(n) && n > 0 && n <= MAX_LIMIT,
    `limit must be an integer in 1..${MAX_LIMIT}, got ${n}`,
  );
  return n;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const bound = (x: number | undefined, open: '-inf' | '+inf'): string => (x === undefined ? open : String(x));

function parse<T>(key: string, member: string): T {
  try {
    return JSON.parse(member) as T;
  } catch (cause) {
    throw new HotStoreError(HotStoreErrorCode.CorruptValue, `hot store key ${key} holds a member that is not JSON`, {
      cause,
    });
  }
}

/**
 * Reads the hot store: what the query API serves from Redis. Every read is one round trip (a pipeline where it
 * touches several keys). Pair a read with {@link HotStoreReader.checkpoint} to report the sequence the data
 * reflects.
 */
export class HotStoreReader {
  readonly keys: HotKeys;
  private readonly redis: Redis;

  constructor(options: HotStoreReaderOptions) {
    this.redis = options.redis;
    this.keys = new HotKeys(options.prefix);
  }

  /** The last stream sequence applied by a projection writing under this prefix (0: none). */
  async checkpoint(projection = 'hot'): Promise<number> {
    return Number((await this.redis.get(this.keys.checkpoint(projection))) ?? 0);
  }

  /** The current state of one entity, or undefined when the hot store does not hold it (never seen, or evicted). */
  async getEntity(tenant: string, entityType: string, entityId: string): Promise<EntityState | undefined> {
    const key = this.keys.entity(tenant, entityType, entityId);
    const value = await this.redis.get(key);
    return value === null ? undefined : parse<EntityState>(key, value);
  }

  /** The states of several entities of one tenant, in the order asked (MGET of up to 1000 keys per command). */
  async getEntities(tenant: string, refs: readonly EntityRef[]): Promise<(EntityState | undefined)[]> {
    const keys = refs.map((r) => this.keys.entity(tenant, r.entityType, r.entityId));
    const pipeline = this.redis.pipeline();
    for (let i = 0; i < keys.length; i += 1000) pipeline.mget(keys.slice(i, i + 1000));
    const replies = (await pipeline.exec()) ?? [];
    const values: (string | null)[] = [];
    for (const [error, chunk] of replies) {
      if (error) throw error;
      values.push(...(chunk as (string | null)[]));
    }
    return values.map((v, i) => (v === null ? undefined : parse<EntityState>(keys[i]!, v)));
  }

  /** Window results of a pipeline (open and recently closed ones), newest window start first. */
  async windowResults(tenant: string, pipeline: string, query: WindowResultQuery = {}): Promise<StoredWindowResult[]> {
    const limit = limitOf(query.limit);
    const status = query.status ?? 'all';
    const max = bound(query.to, '+inf');
    const min = bound(query.from, '-inf');
    // With a status filter, read the whole range (capped by maxWindowsPerKey) and filter, so `limit` counts matches.
    const take = status === 'all' ? limit : -1;
    let pairs: { stage: string; key: string }[];
    if (query.stage !== undefined && query.key !== undefined) {
      pairs = [{ stage: query.stage, key: query.key }];
    } else {
      const maxKeys = query.maxKeys ?? 1000;
      requireOption(
        Number.isSafeInteger(maxKeys) && maxKeys > 0 && maxKeys <= MAX_LIMIT,
        `maxKeys must be an integer in 1..${MAX_LIMIT}, got ${maxKeys}`,
      );
      const members = await this.redis.zrevrangebyscore(
        this.keys.windowKeys(tenant, pipeline),
        '+inf',
        '-inf',
        'LIMIT',
        0,
        maxKeys,
      );
      pairs = members
        .map(parseWindowIndexMember)
        .filter(
          (p) =>
            (query.stage === undefined || p.stage === query.stage) && (query.key === undefined || p.key === query.key),
        );
    }
    const keys = pairs.map((p) => this.keys.windows(tenant, pipeline, p.stage, p.key));
    const read = this.redis.pipeline();
    for (const key of keys) read.zrevrangebyscore(key, max, min, 'LIMIT', 0, take);
    const replies = (await read.exec()) ?? [];
    const results: StoredWindowResult[] = [];
    replies.forEach(([error, members], i) => {
      if (error) throw error;
      for (const member of members as string[]) results.push(parse<StoredWindowResult>(keys[i]!, member));
    });
    return results
      .filter((r) => status === 'all' || r.final === (status === 'final'))
      .sort(
        (a, b) => b.start - a.start || compare(windowIndexMember(a.stage, a.key), windowIndexMember(b.stage, b.key)),
      )
      .slice(0, limit);
  }

  /** Recent anomalies of a tenant, newest first. */
  async recentAnomalies(tenant: string, query: SignalQuery = {}): Promise<StoredSignal[]> {
    return this.signals(this.keys.anomalies(tenant), query);
  }

  /** Recent alerts of a tenant, newest first. */
  async recentAlerts(tenant: string, query: SignalQuery = {}): Promise<StoredSignal[]> {
    return this.signals(this.keys.alerts(tenant), query);
  }

  private async signals(key: string, query: SignalQuery): Promise<StoredSignal[]> {
    const limit = limitOf(query.limit);
    const filtered = query.key !== undefined || query.pipeline !== undefined;
    const take = filtered ? -1 : limit;
    const members = await this.redis.zrevrangebyscore(
      key,
      bound(query.until, '+inf'),
      bound(query.since, '-inf'),
      'LIMIT',
      0,
      take,
    );
    return members
      .map((m) => parse<StoredSignal>(key, m))
      .filter(
        (s) =>
          (query.key === undefined || s.key === query.key) &&
          (query.pipeline === undefined || s.pipeline === query.pipeline),
      )
      .slice(0, limit);
  }
}
