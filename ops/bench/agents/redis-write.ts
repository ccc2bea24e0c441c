/** Raw Redis reference: pipelined HSET writes (ioredis pipelines of 1,000) of the stored envelopes' state. */
import { Redis } from 'ioredis';
import { serveAgent, type AgentContext } from '../lib/agent-runtime.ts';
import { storedEnvelope } from '../lib/payload.ts';

interface Args {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly count: number;
  readonly pipeline: number;
  readonly idPrefix: string;
}

async function write(args: Args, ctx: AgentContext): Promise<object> {
  const redis = new Redis(args.redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    const values = Array.from({ length: args.count }, (_, i) => {
      const e = storedEnvelope(args.idPrefix, i);
      return [`${args.prefix}entity:device:${e.subject}:${i % 1000}`, JSON.stringify(e)] as const;
    });
    await ctx.mark('begin');
    const started = performance.now();
    let written = 0;
    const progress = setInterval(() => ctx.progress(`${written}/${args.count} writes`), 2000);
    for (let i = 0; i < values.length; i += args.pipeline) {
      const p = redis.pipeline();
      for (const [key, value] of values.slice(i, i + args.pipeline)) p.hset(key, 'last', value, 'seq', i);
      const results = await p.exec();
      if (results?.some(([err]) => err)) throw new Error('a pipelined HSET failed');
      written = Math.min(values.length, i + args.pipeline);
    }
    const seconds = (performance.now() - started) / 1000;
    clearInterval(progress);
    await ctx.mark('end');
    return { count: args.count, seconds, rate: args.count / seconds };
  } finally {
    redis.disconnect();
  }
}

serveAgent<Args>(write);
