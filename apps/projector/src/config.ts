import { z } from 'zod';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';

export const projectorEnv = {
  ...commonEnv,
  PROJECTOR_PORT: portEnv(8082),
  /** Durable consumer (from streams/) the warm projection reads. */
  PROJECTOR_CONSUMER: z.string().default('warm-projector'),
  /** Most events per transaction. */
  PROJECTOR_BATCH: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** Longest a partial batch waits before it is written. */
  PROJECTOR_MAX_WAIT_MS: z.coerce.number().int().min(1).max(10_000).default(20),
};

export type ProjectorConfig = ReturnType<typeof loadProjectorConfig>;

export function loadProjectorConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseEnv(projectorEnv, env);
}
