import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HotStoreError, HotStoreErrorCode } from './errors.ts';
import type { HotOp } from './plan.ts';

/**
 * Applies one batch atomically: checks that the checkpoint is still the one the batch was planned against
 * (optimistic concurrency: a second writer makes this one refuse, and nothing is written), checks that every key
 * holds the Redis type the store writes (a Lua error after the first write would leave a partial batch, so
 * every failure is found before the first write), then performs the writes, skipping any from a sequence at or
 * below the stored checkpoint, and moves the checkpoint.
 *
 * `#!lua` (no flags) makes Redis refuse the whole script up front when it is out of memory, instead of failing
 * at some write in the middle.
 *
 *     KEYS[1] checkpoint, KEYS[2..] the keys the ops write
 *     ARGV[1] expected checkpoint, ARGV[2] new checkpoint, ARGV[3] number of ops,
 *     then 6 per op: op, seq, key index (into KEYS), a1, a2, a3
 *
 * Returns `{1, checkpoint, writes, skipped}` when applied, `{0, stored checkpoint, 0, 0}` when refused.
 */
export const APPLY_SCRIPT = `#!lua
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if stored ~= tonumber(ARGV[1]) then
  return {0, stored, 0, 0}
end
local n = tonumber(ARGV[3])
local want = {set = 'string', zput = 'zset', zadd = 'zset', zmax = 'zset', zdel = 'zset', ztrim = 'zset'}
for i = 0, n - 1 do
  local b = 4 + i * 6
  local expected = want[ARGV[b]]
  if expected == nil then
    return redis.error_reply('TWHOT unknown op ' .. tostring(ARGV[b]) .. '; nothing was written')
  end
  local key = KEYS[tonumber(ARGV[b + 2])]
  local actual = redis.call('TYPE', key)['ok']
  if actual ~= 'none' and actual ~= expected then
    return redis.error_reply('TWHOT key ' .. key .. ' holds a ' .. actual .. ', not a ' .. expected .. '; nothing was written')
  end
end
local writes, skipped = 0, 0
for i = 0, n - 1 do
  local b = 4 + i * 6
  local op, seq, key = ARGV[b], tonumber(ARGV[b + 1]), KEYS[tonumber(ARGV[b + 2])]
  local a1, a2, a3 = ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  if seq <= stored then
    skipped = skipped + 1
  else
    writes = writes + 1
    if op == 'set' then
      if a2 == '0' then redis.call('SET', key, a1) else redis.call('SET', key, a1, 'PXAT', a2) end
    elseif op == 'zput' then
      redis.call('ZREMRANGEBYSCORE', key, a1, a1)
      redis.call('ZADD', key, a1, a2)
    elseif op == 'zadd' then
      redis.call('ZADD', key, a1, a2)
    elseif op == 'zmax' then
      redis.call('ZADD', key, 'GT', a1, a2)
    elseif op == 'zdel' then
      redis.call('ZREMRANGEBYSCORE', key, a1, a1)
    elseif op == 'ztrim' then
      local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]
      if newest then
        local top = tonumber(newest)
        redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%.17g', top - tonumber(a1)))
        local cap = tonumber(a2)
        if cap > 0 then redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1)) end
        local after = tonumber(a3)
        if after > 0 then redis.call('PEXPIREAT', key, string.format('%.17g', top + after)) end
      end
    end
  end
end
local through = tonumber(ARGV[2])
if through > stored then
  redis.call('SET', KEYS[1], ARGV[2])
  stored = through
end
return {1, stored, writes, skipped}
`;

const SHA = createHash('sha1').update(APPLY_SCRIPT).digest('hex');

/** What one script call did. */
export type ScriptOutcome =
  | { readonly applied: true; readonly checkpoint: number; readonly writes: number; readonly skipped: number }
  | { readonly applied: false; readonly checkpoint: number };

/**
 * Runs {@link APPLY_SCRIPT} (EVALSHA, loading the script on NOSCRIPT) for one batch of ops.
 */
export async function runApplyScript(
  redis: Redis,
  checkpointKey: string,
  expected: number,
  through: number,
  ops: readonly HotOp[],
): Promise<ScriptOutcome> {
  const keys: string[] = [checkpointKey];
  const keyIndex = new Map<string, number>();
  const args: string[] = [String(expected), String(through), String(ops.length)];
  for (const op of ops) {
    let index = keyIndex.get(op.key);
    if (index === undefined) {
      keys.push(op.key);
      index = keys.length; // Lua is 1-based: KEYS[index]
      keyIndex.set(op.key, index);
    }
    args.push(op.op, String(op.seq), String(index), op.a1, op.a2, op.a3);
  }
  let reply: unknown;
  try {
    try {
      reply = await redis.evalsha(SHA, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error && /NOSCRIPT/.test(error.message))) throw error;
      reply = await redis.eval(APPLY_SCRIPT, keys.length, ...keys, ...args);
    }
  } catch (error) {
    if (error instanceof Error && /TWHOT /.test(error.message)) {
      throw new HotStoreError(HotStoreErrorCode.KeyTypeConflict, error.message.replace(/^.*TWHOT /, ''), {
        cause: error,
      });
    }
    throw error;
  }
  const [ok, checkpoint, writes, skipped] = reply as [number, number, number, number];
  return ok === 1 ? { applied: true, checkpoint, writes, skipped } : { applied: false, checkpoint };
}
