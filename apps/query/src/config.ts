import { z } from 'zod';
import { authEnv } from '@tideway/auth';
import { commonEnv, parseEnv, portEnv } from '@tideway/service';

const ms = (fallback: number, max = 3_600_000) => z.coerce.number().int().min(1).max(max).default(fallback);
const onOff = (fallback: 'on' | 'off') => z.enum(['on', 'off']).default(fallback);

export const queryEnv = {
  ...commonEnv,
  /** TIDEWAY_AUTH, TIDEWAY_BOOTSTRAP_KEY, TIDEWAY_KEY_CACHE_SECONDS: API keys (scope `query`), see @tideway/auth. */
  ...authEnv,
  QUERY_PORT: portEnv(8081),
  /** PostgreSQL statement timeout for every query the API runs. */
  QUERY_STATEMENT_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** Tenant a request reads when it names none and no API key binds it to one. */
  QUERY_DEFAULT_TENANT: z.string().default('default'),
  /** PostgreSQL pool size. */
  QUERY_DB_POOL: z.coerce.number().int().min(1).max(200).default(10),
  /** Largest page of any listing (`limit`). */
  QUERY_MAX_PAGE: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** Widest `from`..`to` range of a listing, an aggregation or an export, in days. */
  QUERY_MAX_RANGE_DAYS: z.coerce.number().int().min(1).max(36_500).default(366),
  /** Most rows (buckets × groups) one aggregation returns. */
  QUERY_MAX_AGGREGATE_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Longest a request with `min_seq` waits for the projections it reads before answering 503. */
  QUERY_MIN_SEQ_WAIT_MS: ms(5_000, 60_000),
  /**
   * How long after its end a time range is taken as settled (no late event will land in it): responses for
   * ranges that ended this long before the projection's last commit are cacheable as immutable.
   */
  QUERY_SETTLE_MS: ms(3_600_000, 30 * 86_400_000),
  /** Live tail: comment line sent when no event went out for this long. */
  QUERY_SSE_HEARTBEAT_MS: ms(15_000, 300_000),
  /** Live tail: events buffered per client before a client that does not read is disconnected. */
  QUERY_SSE_BUFFER: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  /** Live tail: a client whose buffer stays full this long is disconnected. */
  QUERY_SSE_SLOW_CLIENT_MS: ms(10_000, 600_000),
  /** Most live-tail connections at once (further ones get 503). */
  QUERY_SSE_MAX_CLIENTS: z.coerce.number().int().min(1).max(100_000).default(1_000),
  /** Read entity state from the hot store (Redis) first. */
  QUERY_HOT: onOff('on'),
  /** Key prefix of the hot store the hot projection writes. */
  HOT_PREFIX: z.string().min(1).default('tw:hot:'),
  /** Name of the hot projection (its checkpoint key). */
  HOT_PROJECTION: z.string().min(1).default('hot'),
  /** Merge the cold archive (S3 + manifest, `@tideway/cold`) into event reads whose range reaches past warm retention. */
  QUERY_COLD: onOff('off'),
  /** The archive's bucket, object prefix and projection name (as the cold projector writes them). */
  COLD_BUCKET: z.string().min(3).default('tideway-cold'),
  COLD_PREFIX: z.string().min(1).default('events'),
  COLD_PROJECTION: z.string().min(1).default('cold-events'),
  S3_ENDPOINT: z.string().url().optional(),
  S3_ACCESS_KEY: z.string().optional(),
  S3_SECRET_KEY: z.string().optional(),
  S3_REGION: z.string().default('us-east-1'),
  /** Name of the warm events projection (its row in projection_checkpoints). */
  WARM_PROJECTION: z.string().min(1).default('warm-events'),
  /** Name of the warm projection of the DERIVED stream (window results, anomalies, alerts). */
  DERIVED_PROJECTION: z.string().min(1).default('warm-derived'),
};

export type QueryConfig = ReturnType<typeof loadQueryConfig>;

export function loadQueryConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseEnv(queryEnv, env);
}
