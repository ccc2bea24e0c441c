import type { Redis } from 'ioredis';

/** The verdict on one request. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Tokens left after this request. */
  readonly remaining: number;
  /** When refused: seconds until enough tokens have refilled (at least 1). */
  readonly retryAfterSeconds: number;
}

/** Options of {@link RedisRateLimiter}. */
export interface RateLimiterOptions {
  /** Sustained rate: tokens added per second. */
  readonly ratePerSecond: number;
  /** Bucket size: how many may be spent at once after a quiet period. */
  readonly burst: number;
  /** Prefix of every key this limiter writes, e.g. `tw:rl:`; tests use their own. */
  readonly prefix: string;
}

/**
 * A token bucket per key, kept in Redis and updated by one Lua script, so every gateway replica draws from the same
 * bucket. The script reads Redis's own clock (TIME), so replicas with skewed clocks agree. Idle buckets expire.
 */
const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return { allowed, tostring(tokens), wait }
`;

/** A per-key rate limiter whose buckets live in Redis and hold across gateway replicas. */
export class RedisRateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly options: RateLimiterOptions,
  ) {
    if (options.ratePerSecond <= 0 || options.burst < 1) throw new Error('rate limit: rate must be > 0 and burst >= 1');
  }

  /** Takes `cost` tokens from the bucket of `key`, or refuses with the time until they refill. */
  async take(key: string, cost = 1): Promise<RateLimitDecision> {
    const [allowed, remaining, waitMs] = (await this.redis.eval(
      SCRIPT,
      1,
      `${this.options.prefix}${key}`,
      this.options.ratePerSecond,
      this.options.burst,
      Math.min(cost, this.options.burst),
    )) as [number, string, number];
    return {
      allowed: allowed === 1,
      remaining: Math.floor(Number(remaining)),
      retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(waitMs / 1000)),
    };
  }
}
