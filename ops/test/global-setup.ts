/**
 * Vitest global setup: makes sure the servers the tests talk to are listening, and exports their addresses as
 * the same env vars the apps read (NATS_URL, DATABASE_URL, REDIS_URL, S3_*), before test workers start.
 */
import { ensureServices } from '../../libs/testing/src/services.ts';

let stop: (() => Promise<void>) | undefined;

export async function setup(): Promise<void> {
  const services = await ensureServices();
  stop = services.stop;
  Object.assign(process.env, services.env);
}

export async function teardown(): Promise<void> {
  await stop?.();
}
