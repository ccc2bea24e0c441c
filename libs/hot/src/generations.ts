import type { Redis } from 'ioredis';
import type { StoredEvent } from '@tideway/events';
import type { ApplyResult, ProjectionStore } from '@tideway/projection';
import type { EntityState } from '@tideway/entities';
import { HotStoreReader } from './reader.ts';
import { HotProjectionStore, type HotProjectionStoreOptions } from './store.ts';

/**
 * Generations of one hot store. The live key prefix is found through a pointer key, so a rebuild can write a
 * complete new generation under a shadow prefix and switch every reader and writer to it with one `SET`:
 *
 *     <stem>~current          string  the live prefix (absent: the base prefix itself)
 *     <stem>~g<stamp>:…       keys of a rebuilt generation
 *
 * where `<stem>` is the base prefix without its trailing `:` — outside the `<base>*` key space, so a
 * generation's keys never show up in another's scans or checksums.
 */
export class HotGenerations {
  private readonly stem: string;
  private cached: { prefix: string; until: number } | undefined;

  constructor(
    private readonly redis: Redis,
    /** The configured base prefix, e.g. `tw:hot:`. */
    readonly base: string,
    /** How long readers may cache the live prefix. */
    private readonly cacheMs: number = 1000,
  ) {
    this.stem = base.replace(/:$/, '');
  }

  get pointerKey(): string {
    return `${this.stem}~current`;
  }

  /** The live prefix, read from Redis. */
  async live(): Promise<string> {
    return (await this.redis.get(this.pointerKey)) ?? this.base;
  }

  /** The live prefix, cached for `cacheMs` (for readers on a hot path). */
  async liveCached(now: number = Date.now()): Promise<string> {
    if (this.cached && this.cached.until > now) return this.cached.prefix;
    const prefix = await this.live();
    this.cached = { prefix, until: now + this.cacheMs };
    return prefix;
  }

  /** A fresh prefix for a rebuild. */
  shadowPrefix(stamp: string): string {
    return `${this.stem}~g${stamp}:`;
  }

  /** Makes `prefix` the live generation (one atomic SET); returns the previous live prefix. */
  async promote(prefix: string): Promise<string> {
    const previous = await this.redis.set(this.pointerKey, prefix, 'GET');
    this.cached = undefined;
    return previous ?? this.base;
  }

  /** Deletes every key of a retired generation (SCAN + UNLINK, in pages). */
  async retire(prefix: string): Promise<number> {
    if (!prefix) throw new Error('refusing to retire an empty prefix');
    let cursor = '0';
    let removed = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    return removed;
  }
}

/**
 * A hot projection store that follows the live generation: `reopen()` (called by the projection runner when it
 * starts or resumes after a rebuild swap) points it at whatever prefix is live now.
 */
export class GenerationalHotStore implements ProjectionStore {
  private inner: HotProjectionStore;

  constructor(
    private readonly generations: HotGenerations,
    private readonly options: Omit<HotProjectionStoreOptions, 'prefix'>,
    prefix: string = generations.base,
  ) {
    this.inner = new HotProjectionStore({ ...options, prefix });
  }

  get name(): string {
    return this.inner.name;
  }

  async reopen(): Promise<void> {
    this.inner = new HotProjectionStore({ ...this.options, prefix: await this.generations.live() });
  }

  reject(event: StoredEvent): string | undefined {
    return this.inner.reject(event);
  }

  checkpoint(): Promise<number> {
    return this.inner.checkpoint();
  }

  apply(batch: readonly StoredEvent[], throughSeq: number): Promise<ApplyResult> {
    return this.inner.apply(batch, throughSeq);
  }
}

/**
 * Reads the live generation of a hot store: each call resolves the live prefix (cached for a second by
 * {@link HotGenerations.liveCached}) and reads through a `HotStoreReader` on it, so readers follow a rebuild swap.
 */
export class GenerationalHotReader {
  private reader: HotStoreReader | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly generations: HotGenerations,
  ) {}

  /** The reader of the live generation. */
  async current(): Promise<HotStoreReader> {
    const prefix = await this.generations.liveCached();
    if (this.reader?.keys.prefix !== prefix) this.reader = new HotStoreReader({ redis: this.redis, prefix });
    return this.reader;
  }

  async checkpoint(projection = 'hot'): Promise<number> {
    return (await this.current()).checkpoint(projection);
  }

  async getEntity(tenant: string, entityType: string, entityId: string): Promise<EntityState | undefined> {
    return (await this.current()).getEntity(tenant, entityType, entityId);
  }
}
