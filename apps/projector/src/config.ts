import { z } from 'zod';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';

export const PROJECTION_NAMES = ['warm', 'derived'] as const;
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
  PROJECTOR_BATCH: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** Run the batch-job scheduler in this process (one scheduler per deployment holds a lock; others wait). */
  PROJECTOR_JOBS: z.enum(['on', 'off']).default('on'),
  /** Longest a partial batch waits before it is written. */
  PROJECTOR_MAX_WAIT_MS: z.coerce.number().int().min(1).max(60_000).default(20),
};

export type ProjectorConfig = ReturnType<typeof loadProjectorConfig>;

export function loadProjectorConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseEnv(projectorEnv, env);
}
