import { z } from 'zod';

/**
 * Parses a service's environment once, at start-up. A bad value fails with a message naming the variable,
 * e.g. `INGEST_PORT: Invalid input: expected number, received NaN`.
 */
export function parseEnv<T extends z.ZodRawShape>(shape: T, env: Readonly<Record<string, string | undefined>>): z.infer<z.ZodObject<T>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** Env fields every Tideway service shares, with localhost defaults. */
export const commonEnv = {
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  DATABASE_URL: z.string().default('postgres://root@127.0.0.1:5432/test'),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('public'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** First token of every subject; deployments sharing one NATS account use different roots. */
  TIDEWAY_SUBJECT_ROOT: z.string().regex(/^[A-Za-z0-9_-]+$/).default('tw'),
  /** Suffix of every stream name, paired with TIDEWAY_SUBJECT_ROOT. */
  TIDEWAY_STREAM_SUFFIX: z.string().regex(/^[A-Za-z0-9_-]*$/).default(''),
  TIDEWAY_PARTITIONS: z.coerce.number().int().min(1).max(1024).default(16),
  /** Base key prefix of the hot (Redis) store; the live generation is found through `<prefix without ':'>~current`. */
  HOT_PREFIX: z.string().regex(/^[^*?[\]\\]+$/, 'a non-empty prefix without glob characters').default('tw:hot:'),
  /** Directory of the stream and consumer definitions. */
  STREAMS_DIR: z.string().default('streams'),
  MIGRATIONS_DIR: z.string().default('migrations'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
};

/** A TCP port; 0 picks a free one. */
export const portEnv = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
