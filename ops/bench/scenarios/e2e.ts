/**
 * Scenario 4: end-to-end latency from the ingest response to queryable, at fixed offered rates (open loop), with
 * the real ingest, projector and query apps each in its own process and the load generator in another.
 */
import { freePort } from '@tideway/testing';
import { Agent, AppProcess } from '../lib/children.ts';
import { foldDetails, repeat, type BenchContext, type ResultRow } from '../lib/measure.ts';
import type { TrackedProcess } from '../lib/procs.ts';
import { appEnv, benchNamespace, benchRedisPrefix, benchSchema } from '../lib/platform.ts';
import type { Percentiles } from '../lib/stats.ts';

interface OpenLoopResult {
  offeredRate: number;
  achievedRate: number;
  keptUp: boolean;
  failed: number;
  firstError?: string;
  maxOutstandingRequests: number;
  backlogEarly: number;
  backlogLate: number;
  backlogMax: number;
  backlogGrowing: boolean;
  response: Percentiles;
  api: Percentiles;
  tiers: Record<string, Percentiles & { unresolved: number }>;
}

export async function e2eLatency(ctx: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  await using space = await benchNamespace(ctx.env['NATS_URL']!);
  await using schema = await benchSchema(ctx.env['DATABASE_URL']!);
  await using redis = benchRedisPrefix(ctx.env['REDIS_URL']!);
  const ports = { ingest: await freePort(), projector: await freePort(), query: await freePort() };
  const env = appEnv(ctx.env, space, schema.schema, {
    INGEST_PORT: String(ports.ingest),
    PROJECTOR_PORT: String(ports.projector),
    QUERY_PORT: String(ports.query),
    PROJECTOR_JOBS: 'off',
    HOT_PREFIX: redis.prefix,
  });
  const apps: AppProcess[] = [];
  let load: Agent | undefined;
  try {
    apps.push(await AppProcess.start('ingest', env, ports.ingest));
    // Hot where the projector has it; warm alone otherwise.
    let tiers = ['warm', 'hot'];
    try {
      apps.push(await AppProcess.start('projector', { ...env, PROJECTIONS: 'warm,hot' }, ports.projector));
    } catch (error) {
      ctx.log(`projector with warm,hot did not start (${error instanceof Error ? error.message : String(error)}); measuring warm only`);
      tiers = ['warm'];
      apps.push(await AppProcess.start('projector', { ...env, PROJECTIONS: 'warm' }, ports.projector));
    }
    apps.push(await AppProcess.start('query', env, ports.query));
    load = await Agent.start('loadgen', 'open-loop');
    const procs = (): TrackedProcess[] => [...apps.map((a) => a.proc), load!.proc];
    const durationMs = ctx.quick ? 5_000 : 20_000;
    const batch = 10;
    let tag = 0;
    for (const rate of [1_000, 10_000]) {
      const perTier: Record<string, { p50: number[]; p95: number[]; p99: number[] }> = {};
      const r = await repeat(
        ctx,
        `e2e ${rate / 1000}k events/s`,
        procs,
        async (i, hooks) => {
          const out = await load!.run<OpenLoopResult>(
            {
              ingestUrl: apps[0]!.url,
              queryUrl: apps[2]!.url,
              rate,
              batch,
              durationMs: i < 0 ? durationMs / 2 : durationMs,
              idPrefix: `e2e-${rate}-${++tag}`,
              databaseUrl: ctx.env['DATABASE_URL']!,
              schema: schema.schema,
              warmProjection: 'warm-events',
              ...(tiers.includes('hot') ? { redisUrl: ctx.env['REDIS_URL']!, hotCheckpointKey: `${redis.prefix}_cp:hot` } : {}),
              pollMs: 2,
              apiSampleEvery: rate >= 10_000 ? 200 : 20,
            },
            hooks,
          );
          if (out.failed > 0) throw new Error(`e2e at ${rate}/s: ${out.failed} requests failed: ${out.firstError}`);
          if (i >= 0) {
            for (const [name, p] of Object.entries(out.tiers)) {
              const t = (perTier[name] ??= { p50: [], p95: [], p99: [] });
              t.p50.push(p.p50);
              t.p95.push(p.p95);
              t.p99.push(p.p99);
            }
          }
          const warm = out.tiers['warm']!;
          return {
            value: warm.p99,
            seconds: durationMs / 1000,
            details: {
              p50: warm.p50,
              p95: warm.p95,
              p99: warm.p99,
              unresolved: warm.unresolved,
              achievedRate: Math.round(out.achievedRate),
              keptUp: out.keptUp,
              backlogEarly: out.backlogEarly,
              backlogLate: out.backlogLate,
              backlogMax: out.backlogMax,
              backlogGrowing: out.backlogGrowing,
              maxOutstandingRequests: out.maxOutstandingRequests,
              ingestResponseP99: out.response.p99,
              apiVisibleP50: out.api.p50,
              apiVisibleP99: out.api.p99,
              apiSamples: out.api.count,
              ...(out.tiers['hot'] ? { hotP50: out.tiers['hot'].p50, hotP95: out.tiers['hot'].p95, hotP99: out.tiers['hot'].p99 } : {}),
            },
          };
        },
        { format: (v) => `warm p99 ${v.toFixed(1)} ms` },
      );
      const label = `${rate / 1000}k`;
      const details = foldDetails(r.details);
      // What the offered rate costs in CPU, from the median run's CPU seconds per process (sending and draining):
      // the platform's processes alone (ingest, projector, query, NATS, PostgreSQL, Redis) and the load generator,
      // whose polling for "queryable" is the measurement's own cost. As cores at the offered rate, it says whether
      // the machine can carry the rate at all.
      const events = (rate * durationMs) / 1000;
      const cpu = (names: (name: string) => boolean): number => Object.entries(r.processes).reduce((sum, [name, p]) => (names(name) ? sum + p.cpuSeconds : sum), 0);
      const platformCpu = cpu((name) => name !== 'loadgen' && name !== 'other');
      const cost = {
        platformCpuMicrosPerEvent: Math.round((platformCpu / events) * 1e6),
        loadgenCpuMicrosPerEvent: Math.round((cpu((name) => name === 'loadgen') / events) * 1e6),
        platformCoresAtRate: Math.round((platformCpu / events) * rate * 100) / 100,
      };
      rows.push({
        id: `e2e.warm.${label}`,
        scenario: 'e2e',
        name: `Ingest response → queryable in warm, ${rate.toLocaleString('en-US')} events/s offered (open loop, batches of ${batch}), p99`,
        unit: 'ms',
        ...r,
        details: { rate, batch, durationMs, ...details, ...cost },
      });
      const hot = perTier['hot'];
      if (hot) {
        const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        rows.push({
          id: `e2e.hot.${label}`,
          scenario: 'e2e',
          name: `Ingest response → queryable in hot, ${rate.toLocaleString('en-US')} events/s offered, p99`,
          unit: 'ms',
          summary: { median: med(hot.p99), min: Math.min(...hot.p99), max: Math.max(...hot.p99), runs: hot.p99 },
          processes: r.processes,
          details: { p50: med(hot.p50), p95: med(hot.p95), p99: med(hot.p99) },
          note: 'same runs as the warm line',
        });
      }
    }
  } finally {
    await load?.stop();
    for (const a of apps.reverse()) await a.stop();
  }
  return rows;
}
