/**
 * Scenario 1 (HTTP ingest, JSON batches of 1, 100 and 1,000 events) and scenario 2 (NDJSON bulk ingest): the
 * real gateway (`apps/ingest/src/main.ts`) in its own process, closed-loop load from another process, counting
 * events JetStream acknowledged (202 with every event accepted).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from '@tideway/testing';
import { Agent, AppProcess } from '../lib/children.ts';
import { foldDetails, repeat, skippedRow, type BenchContext, type ResultRow } from '../lib/measure.ts';
import { appEnv, benchNamespace, type BenchNamespace } from '../lib/platform.ts';
import { sensorJson } from '../lib/payload.ts';

interface LoadResult {
  rate: number;
  seconds: number;
  accepted: number;
  failed: number;
  firstError?: string;
  requestLatency: { p50: number; p99: number };
}

async function withGateway<T>(ctx: BenchContext, fn: (space: BenchNamespace, ingest: AppProcess, load: Agent) => Promise<T>): Promise<T> {
  await using space = await benchNamespace(ctx.env['NATS_URL']!);
  const port = await freePort();
  const ingest = await AppProcess.start('ingest', appEnv(ctx.env, space, 'public', { INGEST_PORT: String(port) }), port);
  const load = await Agent.start('loadgen', 'http-load');
  try {
    return await fn(space, ingest, load);
  } finally {
    await load.stop();
    await ingest.stop();
  }
}

/** Empties the stream between runs so every run appends to a stream of the same size. */
async function purge(ctx: BenchContext, stream: string): Promise<void> {
  const nc = await connect({ servers: ctx.env['NATS_URL']!.split(','), name: 'tideway-bench-purge' });
  try {
    await (await jetstreamManager(nc)).streams.purge(stream);
  } finally {
    await nc.close();
  }
}

export async function httpIngest(ctx: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const durationMs = ctx.quick ? 3_000 : 8_000;
  let tag = 0;
  for (const [batch, clients] of [
    [1, 32],
    [100, 8],
    [1000, 4],
  ] as const) {
    // A fresh namespace and gateway per batch size, and the stream purged before each run.
    rows.push(
      await withGateway(ctx, async (space, ingest, load) => {
        const r = await repeat(ctx, `HTTP batches of ${batch}`, () => [ingest.proc, load.proc], async (i, hooks) => {
          await purge(ctx, space.stream);
          const out = await load.run<LoadResult>(
            { url: ingest.url, batch, clients, durationMs: i < 0 ? durationMs / 2 : durationMs, idPrefix: `h${batch}-${++tag}`, format: 'json' },
            hooks,
          );
          if (out.failed > 0) throw new Error(`HTTP ingest (batch ${batch}): ${out.failed} requests failed: ${out.firstError}`);
          return { value: out.rate, seconds: out.seconds, details: { requestP50: out.requestLatency.p50, requestP99: out.requestLatency.p99 } };
        });
        return {
          id: `ingest.http.b${batch}`,
          scenario: 'ingest',
          name: `HTTP ingest, JSON batches of ${batch}, ${clients} clients, to JetStream ack`,
          unit: 'events/s',
          ...r,
          details: { batch, clients, durationMs, ...foldDetails(r.details) },
        };
      }),
    );
  }
  return rows;
}

export async function ndjsonIngest(ctx: BenchContext): Promise<ResultRow[]> {
  return withGateway(ctx, async (space, ingest, load) => {
    // Probe: a gateway without the NDJSON endpoint answers 415 (unsupported media type).
    const probe = await fetch(`${ingest.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: `${sensorJson('ndjson-probe-1', 1, undefined)}\n${sensorJson('ndjson-probe-2', 2, undefined)}\n`,
    });
    const probeText = await probe.text();
    if (probe.status !== 202 && probe.status !== 200) {
      ctx.log(`NDJSON endpoint not available: POST /v1/events (application/x-ndjson) answered ${probe.status}`);
      return [skippedRow('ingest.ndjson', 'ndjson', 'NDJSON bulk ingest', 'events/s', `not available: the gateway answered ${probe.status} to application/x-ndjson (${probeText.slice(0, 80).replaceAll('|', '/')})`)];
    }
    const durationMs = ctx.quick ? 4_000 : 8_000;
    const batch = 5000;
    const clients = 4;
    let tag = 0;
    const r = await repeat(ctx, `NDJSON bulk ${batch} lines`, () => [ingest.proc, load.proc], async (i, hooks) => {
      await purge(ctx, space.stream);
      const out = await load.run<LoadResult>({ url: ingest.url, batch, clients, durationMs: i < 0 ? durationMs / 2 : durationMs, idPrefix: `nd-${++tag}`, format: 'ndjson' }, hooks);
      if (out.failed > 0) throw new Error(`NDJSON ingest: ${out.failed} requests failed: ${out.firstError}`);
      return { value: out.rate, seconds: out.seconds, details: { requestP50: out.requestLatency.p50, requestP99: out.requestLatency.p99 } };
    });
    return [{ id: 'ingest.ndjson', scenario: 'ndjson', name: `NDJSON bulk ingest, ${batch} lines per request, ${clients} clients`, unit: 'events/s', ...r, details: { batch, clients, ...foldDetails(r.details) } }];
  });
}
