import { z } from 'zod';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';

export const ingestEnv = {
  ...commonEnv,
  INGEST_PORT: portEnv(8080),
  /** Largest accepted request body. */
  INGEST_MAX_BODY_BYTES: z.coerce.number().int().positive().default(8 * 1024 * 1024),
  /** Most events in one request. */
  INGEST_MAX_BATCH: z.coerce.number().int().positive().default(5000),
  /** Largest single event, serialised (must stay below the stream's max_msg_size of 1 MiB). */
  INGEST_MAX_EVENT_BYTES: z.coerce.number().int().positive().max(1024 * 1024).default(256 * 1024),
  /** Publishes awaiting a JetStream ack, across all requests; beyond it requests wait (bounded memory). */
  INGEST_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(4096),
  /** Tenant of events that do not name one (until API keys bind callers to tenants). */
  INGEST_DEFAULT_TENANT: z.string().default('default'),
};

export type IngestConfig = ReturnType<typeof loadIngestConfig>;

export function loadIngestConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseEnv(ingestEnv, env);
}
