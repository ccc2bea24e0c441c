import { z } from 'zod';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';

export const queryEnv = {
  ...commonEnv,
  QUERY_PORT: portEnv(8081),
  /** PostgreSQL statement timeout for every query the API runs. */
  QUERY_STATEMENT_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** Tenant a request reads when it names none (until API keys bind callers to tenants). */
  QUERY_DEFAULT_TENANT: z.string().default('default'),
};

export type QueryConfig = ReturnType<typeof loadQueryConfig>;

export function loadQueryConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseEnv(queryEnv, env);
}
