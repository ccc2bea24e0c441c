import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { authEnv } from '@tideway/auth';
import { TenantSchema } from '@tideway/events';
import { WebhookSourceSchema } from '@tideway/producers';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';
import { PollerConfigSchema } from './pollers/config.ts';

const MiB = 1024 * 1024;

/** A webhook source of this gateway: the producers' source configuration plus the tenant its events go to. */
export const GatewayWebhookSchema = z
  .object({ tenant: TenantSchema.default('default') })
  .passthrough()
  .transform((value, ctx) => {
    const { tenant, ...source } = value;
    const parsed = WebhookSourceSchema.safeParse(source);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom', message: issue.message });
      return z.NEVER;
    }
    return { tenant, source: parsed.data };
  });
export type GatewayWebhook = z.infer<typeof GatewayWebhookSchema>;

/** A JSON array from an env var, or from the file another env var names (the file wins). */
function jsonList<T extends z.ZodType>(item: T) {
  return z
    .string()
    .optional()
    .transform((text, ctx): z.infer<T>[] => {
      if (text === undefined || text.trim() === '') return [];
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not JSON: ${(error as Error).message}` });
        return z.NEVER;
      }
      const parsed = z.array(item).safeParse(value);
      if (!parsed.success) {
        for (const issue of parsed.error.issues)
          ctx.addIssue({ ...issue, code: 'custom', message: `${issue.path.join('.')}: ${issue.message}` });
        return z.NEVER;
      }
      return parsed.data;
    });
}

export const ingestEnv = {
  ...commonEnv,
  ...authEnv,
  INGEST_PORT: portEnv(8080),
  /** Largest accepted request body (JSON, CloudEvents, Segment, webhooks). */
  INGEST_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(8 * MiB),
  /** Most events in one JSON request. */
  INGEST_MAX_BATCH: z.coerce.number().int().positive().default(5000),
  /** Largest single event, serialised (must stay below NATS's max payload of 1 MiB). */
  INGEST_MAX_EVENT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .max(MiB - 64 * 1024)
    .default(256 * 1024),
  /** Largest NDJSON body (`application/x-ndjson`), streamed. */
  INGEST_MAX_BULK_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(64 * MiB),
  /** Most lines of one NDJSON body. */
  INGEST_MAX_BULK_EVENTS: z.coerce.number().int().positive().default(100_000),
  /** Publishes one NDJSON or upload request keeps in flight. */
  INGEST_BULK_IN_FLIGHT: z.coerce.number().int().positive().default(512),
  /** Largest file upload (`POST /v1/uploads`), spooled to a temp file. */
  INGEST_MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * MiB),
  /** Publishes awaiting a JetStream ack, across all requests; beyond it publishes wait for a slot. */
  INGEST_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(4096),
  /** Publishes waiting for a slot beyond which new requests are refused with 503 `overloaded`. */
  INGEST_MAX_QUEUED_PUBLISHES: z.coerce.number().int().positive().default(16_384),
  /** Bytes of request bodies held at once, across requests; beyond it new requests get 503 `overloaded`. */
  INGEST_MAX_PENDING_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * MiB),
  /** How long a publish waits for its JetStream ack before the request fails with 503. */
  INGEST_ACK_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** Tenant of anonymous callers when TIDEWAY_AUTH=off. */
  INGEST_DEFAULT_TENANT: TenantSchema.default('default'),
  /** Per-key rate limit (requests per second, sustained) kept in Redis; 0 turns it off. */
  INGEST_RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).default(100),
  /** Per-key burst (requests allowed at once after a quiet period). */
  INGEST_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(200),
  /** Prefix of the gateway's Redis keys. */
  INGEST_REDIS_PREFIX: z.string().default('tw:ingest:'),
  /** Webhook sources, as a JSON array (see the README). */
  INGEST_WEBHOOKS: jsonList(GatewayWebhookSchema),
  /** A JSON file holding the webhook sources, instead of INGEST_WEBHOOKS. */
  INGEST_WEBHOOKS_FILE: z.string().optional(),
  /** Pollers (HTTP APIs, PostgreSQL tables), as a JSON array (see the README). */
  INGEST_POLLERS: jsonList(PollerConfigSchema),
  /** A JSON file holding the pollers, instead of INGEST_POLLERS. */
  INGEST_POLLERS_FILE: z.string().optional(),
};

export type IngestConfig = ReturnType<typeof loadIngestConfig>;

/** Parses the environment; `INGEST_*_FILE` settings are read here, once, and validated like their inline forms. */
export function loadIngestConfig(env: Readonly<Record<string, string | undefined>>) {
  const withFiles = { ...env };
  for (const [inline, file] of [
    ['INGEST_WEBHOOKS', 'INGEST_WEBHOOKS_FILE'],
    ['INGEST_POLLERS', 'INGEST_POLLERS_FILE'],
  ] as const) {
    const path = env[file];
    if (path !== undefined && path !== '') {
      try {
        withFiles[inline] = readFileSync(path, 'utf8');
      } catch (error) {
        throw new Error(`invalid configuration:\n  ${file}: cannot read ${path}: ${(error as Error).message}`);
      }
    }
  }
  return parseEnv(ingestEnv, withFiles);
}
