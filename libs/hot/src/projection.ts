import type { AcquireWriterLock } from '@tideway/projection';
import { redisWriterLock, type RedisWriterLockOptions } from './lock.ts';
import { HotStoreReader } from './reader.ts';
import { HotProjectionStore, type HotProjectionStoreOptions } from './store.ts';

/** The durable consumer (`streams/EVENTS.hot-projector.consumer.json`) the hot projection of EVENTS reads. */
export const HOT_PROJECTOR_CONSUMER = 'hot-projector';

/** The durable consumer (`streams/DERIVED.hot-derived.consumer.json`) the hot projection of DERIVED reads. */
export const HOT_DERIVED_CONSUMER = 'hot-derived';

/** Options of {@link createHotProjection}: the store's, plus the lock's. */
export interface HotProjectionOptions extends HotProjectionStoreOptions {
  /** Single-writer lock settings (the lock lives under the same prefix). */
  readonly lock?: Omit<RedisWriterLockOptions, 'redis' | 'prefix'>;
}

/** What an app needs to run and read a hot projection. */
export interface HotProjection {
  /** Pass as `store` to `runProjection`. */
  readonly store: HotProjectionStore;
  /** Pass as `acquireLock` to `runProjection` (a Redis lease lock under the store's prefix). */
  readonly acquireLock: AcquireWriterLock;
  /** Reads the same prefix (for the query API). */
  readonly reader: HotStoreReader;
}

/**
 * Builds a hot projection: the store, its single-writer lock and a reader, all on one injected ioredis client.
 *
 * @example
 * const hot = createHotProjection({ redis, prefix: 'tw:hot:' });
 * const consumer = definitions.consumers.find((c) => c.stream === stream && c.config.durable_name === HOT_PROJECTOR_CONSUMER)!;
 * await runProjection({ nc, connected, stream, consumer: consumer.config, store: hot.store, acquireLock: hot.acquireLock, scheme, maxBatch: 1000, maxWaitMs: 20, log });
 *
 * // A second instance over the DERIVED stream (consumer HOT_DERIVED_CONSUMER) keeps window results, anomalies and
 * // alerts under the same prefix, with its own checkpoint; the EVENTS instance then keeps entities only.
 * const derived = createHotProjection({ redis, prefix: 'tw:hot:', name: 'hot-derived', entities: false });
 */
export function createHotProjection(options: HotProjectionOptions): HotProjection {
  const store = new HotProjectionStore(options);
  return {
    store,
    acquireLock: redisWriterLock({ ...options.lock, redis: options.redis, prefix: options.prefix }),
    reader: new HotStoreReader({ redis: options.redis, prefix: options.prefix }),
  };
}
