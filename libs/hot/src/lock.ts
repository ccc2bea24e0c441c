import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AcquireWriterLock, WriterLock } from '@tideway/projection';
import { HotStoreError, HotStoreErrorCode, requireOption } from './errors.ts';
import { HotKeys } from './keys.ts';

/** Options of {@link redisWriterLock}. */
export interface RedisWriterLockOptions {
  /** An ioredis client. The lock never closes it. */
  readonly redis: Redis;
  /** The hot store's key prefix: the lock lives with the data it guards, so a shadow prefix has its own. */
  readonly prefix: string;
  /**
   * How long the lock outlives its holder. The holder renews it every third of this; a holder that dies
   * (SIGKILL) is replaced once it runs out. Default 10 s.
   */
  readonly leaseMs?: number;
  /** How often a standby tries to take the lock. Default 500 ms. */
  readonly pollMs?: number;
  /** Stops waiting for the lock. */
  readonly signal?: AbortSignal;
  /**
   * Called when a renewal found the lock gone or taken (the process stalled beyond the lease). The apply script's
   * checkpoint check still keeps the data right; the caller should stop this projection.
   */
  readonly onLost?: (projection: string) => void;
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * A single-writer lock for the projection runner (`runProjection`'s `acquireLock`) kept in Redis next to the
 * hot store's data: `SET NX PX` with a random token, renewed while held, released by compare-and-delete.
 * Replicas beyond the first wait as hot standbys. A lease can lapse under a long pause; correctness does not
 * rest on the lock, because every apply verifies the checkpoint it read.
 */
export function redisWriterLock(options: RedisWriterLockOptions): AcquireWriterLock {
  const keys = new HotKeys(options.prefix);
  const leaseMs = options.leaseMs ?? 10_000;
  const pollMs = options.pollMs ?? 500;
  requireOption(Number.isSafeInteger(leaseMs) && leaseMs >= 30, `leaseMs must be an integer >= 30, got ${leaseMs}`);
  requireOption(Number.isSafeInteger(pollMs) && pollMs > 0, `pollMs must be a positive integer, got ${pollMs}`);
  const { redis } = options;

  return async (projection: string, onWaiting: () => void): Promise<WriterLock> => {
    const key = keys.lock(projection);
    const token = randomUUID();
    let warned = false;
    while ((await redis.set(key, token, 'PX', leaseMs, 'NX')) !== 'OK') {
      if (options.signal?.aborted) {
        throw new HotStoreError(
          HotStoreErrorCode.LockUnavailable,
          `stopped while waiting for the lock of projection ${projection}`,
        );
      }
      if (!warned) onWaiting();
      warned = true;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    let lost = false;
    const timer = setInterval(
      () => {
        redis.eval(RENEW, 1, key, token, leaseMs).then(
          (renewed) => {
            if (renewed === 0 && !lost) {
              lost = true;
              options.onLost?.(projection);
            }
          },
          () => {
            /* Redis away: the next renewal tries again; a lapsed lease is reported then. */
          },
        );
      },
      Math.floor(leaseMs / 3),
    );
    timer.unref();
    return {
      release: async () => {
        clearInterval(timer);
        await redis.eval(RELEASE, 1, key, token);
      },
    };
  };
}
