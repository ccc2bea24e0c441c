/**
 * Vitest global setup: makes sure the servers the tests talk to are listening, and exports their addresses as
 * the same env vars the apps read (NATS_URL, DATABASE_URL, REDIS_URL, S3_*), before test workers start.
 *
 * Every vitest project lists this file, and vitest runs each project's global setup in the same process, so the
 * servers are shared through `globalThis` and reference-counted: the first project starts what is missing, the
 * last teardown stops it.
 */
import { ensureServices, sweepStaleStreams, type Services } from '@tideway/testing';

interface Shared {
  refs: number;
  services: Promise<Services>;
}

const KEY = Symbol.for('tideway.test.services');
const registry = globalThis as typeof globalThis & { [KEY]?: Shared };

/** Joins (or starts) the shared servers; the returned function is this project's teardown. */
export async function setup(): Promise<() => Promise<void>> {
  let shared = registry[KEY];
  if (shared === undefined) {
    shared = {
      refs: 0,
      services: ensureServices({ log: (line) => process.stderr.write(`[test services] ${line}\n`) }).then(async (services) => {
        // namespaces a killed run never disposed of would otherwise pile up on a long-lived server
        const swept = await sweepStaleStreams(services.env['NATS_URL']!).catch(() => []);
        if (swept.length > 0) process.stderr.write(`[test services] deleted ${swept.length} stale namespaced streams (idle for over an hour)\n`);
        return services;
      }),
    };
    registry[KEY] = shared;
  }
  const mine = shared;
  mine.refs++;
  const leave = async (): Promise<void> => {
    if (--mine.refs > 0) return;
    if (registry[KEY] === mine) delete registry[KEY];
    await (await mine.services).stop();
  };
  try {
    Object.assign(process.env, (await mine.services).env);
  } catch (error) {
    await leave().catch(() => {});
    throw error;
  }
  let left = false;
  return async () => {
    if (left) return;
    left = true;
    await leave();
  };
}
