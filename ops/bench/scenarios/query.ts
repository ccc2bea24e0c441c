/**
 * Scenario 6: query latency on a large warm dataset (1M events; the quick run uses 100k and says so): entity state
 * and a one-hour page of events, sequential requests (one at a time, so each latency is the service's own), the
 * query app (`apps/query/src/main.ts`) in its own process, the client in another.
 */
import { freePort } from '@tideway/testing';
import { Agent, AppProcess } from '../lib/children.ts';
import { repeat, type BenchContext, type ResultRow } from '../lib/measure.ts';
import { appEnv, benchNamespace, benchSchema } from '../lib/platform.ts';
import type { Percentiles } from '../lib/stats.ts';

export async function queryLatency(ctx: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const events = ctx.quick ? 100_000 : 1_000_000;
  const devices = 1000;
  const days = 10;
  const start = Date.UTC(2026, 0, 1);
  await using space = await benchNamespace(ctx.env['NATS_URL']!);
  await using schema = await benchSchema(ctx.env['DATABASE_URL']!, { migrate: true });
  const client = await Agent.start('client', 'query-load');
  let query: AppProcess | undefined;
  try {
    ctx.progress(`loading ${events} events into ${schema.schema} with COPY`);
    const loaded = await client.run<{ seconds: number }>({ op: 'load', databaseUrl: ctx.env['DATABASE_URL']!, schema: schema.schema, events, devices, start, days }, { onProgress: (t) => ctx.progress(t) });
    ctx.log(`  loaded ${events.toLocaleString('en-US')} events and ${devices} entity states in ${loaded.seconds.toFixed(1)} s`);
    const port = await freePort();
    // The dataset lives in warm only: the hot tier is off so every entity read is the warm store's.
    query = await AppProcess.start('query', appEnv(ctx.env, space, schema.schema, { QUERY_PORT: String(port), QUERY_HOT: 'off' }), port);
    const requests = ctx.quick ? 1_000 : 3_000;
    const dataset = `${events.toLocaleString('en-US')}-event dataset${ctx.quick ? ' (quick run: smaller than the 1M of the budget)' : ''}`;
    for (const kind of ['entity', 'page'] as const) {
      const r = await repeat(
        ctx,
        `query ${kind}`,
        () => [query!.proc, client.proc],
        async (i, hooks) => {
          const out = await client.run<Percentiles & { seconds: number; rate: number; meanBytes: number }>(
            { op: 'query', url: query!.url, kind, requests: i < 0 ? Math.min(500, requests) : requests, devices, start, days },
            hooks,
          );
          return { value: out.p99, seconds: out.seconds, details: { p50: out.p50, p95: out.p95, p99: out.p99, max: out.max, requestsPerSecond: Math.round(out.rate), meanBytes: out.meanBytes } };
        },
        { format: (v) => `p99 ${v.toFixed(2)} ms` },
      );
      const folded = Object.fromEntries(
        ['p50', 'p95', 'p99', 'max', 'requestsPerSecond', 'meanBytes'].map((k) => [k, [...r.details.map((d) => d[k] as number)].sort((a, b) => a - b)[Math.floor(r.details.length / 2)]]),
      );
      rows.push({
        id: `query.${kind}`,
        scenario: 'query',
        name: kind === 'entity' ? `Entity state GET /v1/entities/device/{id} (warm), ${dataset}, p99` : `One-hour event page GET /v1/events?from&to&limit=100, ${dataset}, p99`,
        unit: 'ms',
        ...r,
        details: { events, requests, concurrency: 1, ...folded },
      });
    }
  } finally {
    await query?.stop();
    await client.stop();
  }
  return rows;
}
