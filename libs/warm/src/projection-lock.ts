import type { WarmStore } from './db.ts';

/** A held single-writer lock on a projection. */
export interface ProjectionLock {
  readonly projection: string;
  release(): Promise<void>;
}

/**
 * Takes the projection's single-writer lock: a PostgreSQL session advisory lock on a reserved connection,
 * held for the life of the process and released by the server if the process dies. A second replica waits
 * here as a hot standby until the first one goes away.
 */
export async function acquireProjectionLock(
  store: WarmStore,
  projection: string,
  options: { pollMs?: number; signal?: AbortSignal; onWaiting?: () => void } = {},
): Promise<ProjectionLock> {
  // Locks are database-wide: the key names the schema too, so isolated schemas (tests, shadows) never contend.
  const key = `tideway:${store.schema}:${projection}`;
  const connection = await store.sql.reserve();
  let warned = false;
  for (;;) {
    const [row] = await connection<{ locked: boolean }[]>`select pg_try_advisory_lock(hashtext(${key})) as locked`;
    if (row?.locked) break;
    if (options.signal?.aborted) {
      connection.release();
      throw new Error(`stopped while waiting for the lock of projection ${projection}`);
    }
    if (!warned) options.onWaiting?.();
    warned = true;
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
  }
  return {
    projection,
    release: async () => {
      await connection`select pg_advisory_unlock(hashtext(${key}))`;
      connection.release();
    },
  };
}
