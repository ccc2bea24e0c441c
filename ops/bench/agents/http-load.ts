/**
 * Closed-loop HTTP load against the ingest gateway: `clients` concurrent keep-alive connections, each posting a
 * new batch of unique sensor readings as soon as its previous request was answered, for a fixed duration.
 */
import http from 'node:http';
import { post } from '../lib/http.ts';
import { serveAgent, type AgentContext } from '../lib/agent-runtime.ts';
import { readingTime, sensorJson } from '../lib/payload.ts';
import { percentiles } from '../lib/stats.ts';

interface Args {
  readonly url: string;
  readonly batch: number;
  readonly clients: number;
  readonly durationMs: number;
  readonly idPrefix: string;
  readonly format: 'json' | 'ndjson';
}

/** Events the gateway says it accepted (`accepted`, or the length of `results`), when the body says. */
function acceptedOf(body: string): number | undefined {
  try {
    const parsed = JSON.parse(body) as { accepted?: number; results?: unknown[] };
    return parsed.accepted ?? parsed.results?.length;
  } catch {
    return undefined;
  }
}

async function load(args: Args, ctx: AgentContext): Promise<object> {
  const url = new URL('/v1/events', args.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: args.clients });
  const contentType = args.format === 'ndjson' ? 'application/x-ndjson' : 'application/json';
  const body = (client: number, k: number): string => {
    const parts: string[] = [];
    const first = k * args.batch;
    for (let i = first; i < first + args.batch; i++) parts.push(sensorJson(`${args.idPrefix}-${client}-${i}`, i, readingTime(i)));
    return args.format === 'ndjson' ? `${parts.join('\n')}\n` : args.batch === 1 ? parts[0]! : `[${parts.join(',')}]`;
  };
  let accepted = 0;
  let failed = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const expect = `{"accepted":${args.batch},`;
  await ctx.mark('begin');
  const started = performance.now();
  const deadline = started + args.durationMs;
  const progress = setInterval(() => ctx.progress(`${accepted} events accepted, ${Math.round(accepted / ((performance.now() - started) / 1000))}/s`), 2000);
  await Promise.all(
    Array.from({ length: args.clients }, async (_, client) => {
      for (let k = 0; performance.now() < deadline; k++) {
        const text = body(client, k);
        const t0 = performance.now();
        const reply = await post(agent, url, contentType, text);
        latencies.push(performance.now() - t0);
        if (reply.status === 202 && (reply.body.startsWith(expect) || acceptedOf(reply.body) === args.batch)) accepted += args.batch;
        else {
          failed++;
          firstError ??= `${reply.status} ${reply.body.slice(0, 300)}`;
          if (failed > 100) throw new Error(`ingest keeps failing: ${firstError}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(progress);
  await ctx.mark('end');
  agent.destroy();
  return { accepted, failed, firstError, seconds, rate: accepted / seconds, requestLatency: percentiles(latencies) };
}

serveAgent<Args>(load);
