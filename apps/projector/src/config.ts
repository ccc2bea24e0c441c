import { z } from 'zod';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';

export const PROJECTION_NAMES = ['warm', 'derived', 'hot', 'hot-derived', 'cold'] as const;
export type ProjectionName = (typeof PROJECTION_NAMES)[number];

export const projectorEnv = {
  ...commonEnv,
  PROJECTOR_PORT: portEnv(8082),
  /** Comma-separated projections this process runs. */
  PROJECTIONS: z
    .string()
    .default('warm,derived')
    .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
    .pipe(z.array(z.enum(PROJECTION_NAMES)).min(1)),
  /** Most events per warm transaction. */
  PROJECTOR_BATCH: z.coerce.number().int().min(1).max(10_000).default(2000),
  /** Run the batch-job scheduler in this process (one scheduler per deployment holds a lock; others wait). */
  PROJECTOR_JOBS: z.enum(['on', 'off']).default('on'),
  /** Longest a partial batch waits before it is written. */
  PROJECTOR_MAX_WAIT_MS: z.coerce.number().int().min(1).max(60_000).default(20),
  /** Key prefix of the hot (Redis) store, shared by the `hot` (entities) and `hot-derived` projections. */
  HOT_PREFIX: z.string().regex(/^[^*?[\]\\]+$/, 'a non-empty prefix without glob characters').default('tw:hot:'),
  /** Hot entity state expires this long (ms) after its last event; unset: never. */
  HOT_ENTITY_TTL_MS: z.coerce.number().int().positive().optional(),
  /** Hot window results are kept this long (ms) after the newest window start of their key. */
  HOT_WINDOWS_TTL_MS: z.coerce.number().int().positive().default(86_400_000),
  /** Hot anomalies are kept this long (ms) after the tenant's newest one. */
  HOT_ANOMALIES_TTL_MS: z.coerce.number().int().positive().default(86_400_000),
  /** Hot alerts are kept this long (ms) after the tenant's newest one. */
  HOT_ALERTS_TTL_MS: z.coerce.number().int().positive().default(7 * 86_400_000),
  /** Largest value the hot store writes; larger events go to quarantine. */
  HOT_MAX_VALUE_BYTES: z.coerce.number().int().positive().default(256 * 1024),
  /** S3-compatible endpoint of the cold archive (AWS S3, MinIO); required by the `cold` projection. */
  S3_ENDPOINT: z.string().url().optional(),
  S3_ACCESS_KEY: z.string().default('minioadmin'),
  S3_SECRET_KEY: z.string().default('minioadmin'),
  S3_REGION: z.string().default('us-east-1'),
  COLD_BUCKET: z.string().min(3).default('tideway-cold'),
  /** Object key prefix of the cold archive. */
  COLD_PREFIX: z.string().min(1).default('events'),
  /** Most events per cold batch (objects are rewritten per batch: larger is cheaper). */
  COLD_BATCH: z.coerce.number().int().min(1).max(100_000).default(10_000),
  COLD_MAX_WAIT_MS: z.coerce.number().int().min(1).max(600_000).default(5_000),
  /** Warm retention: events older than this (event time) move to the cold archive (daily job, with `cold`). */
  WARM_RETENTION_DAYS: z.coerce.number().positive().default(30),
  /** Per-type warm retention in days, e.g. `iot.sensor.reading=7,commerce.order.placed=90`. */
  WARM_RETENTION_BY_TYPE: z
    .string()
    .default('')
    .transform((s, ctx) => {
      const out: Record<string, number> = {};
      for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
        const [type, days] = part.split('=');
        if (!type || !days || !(Number(days) > 0)) {
          ctx.addIssue({ code: 'custom', message: `"${part}" is not <type>=<days>` });
          return z.NEVER;
        }
        out[type] = Number(days);
      }
      return out;
    }),
};

export type ProjectorConfig = ReturnType<typeof loadProjectorConfig>;

export function loadProjectorConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseEnv(projectorEnv, env);
}
