/**
 * Scenario 3: draining a pre-filled stream into each projection, and into all together. The real projector
 * (`apps/projector/src/main.ts`, PROJECTIONS=<name>) runs in its own process against a fresh store each run; the
 * rate is the events committed (the projection's durable consumer's ack floor: acks follow commits) per second,
 * from its first delivery to the last ack.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from '@tideway/testing';
import { readFileSync } from 'node:fs';
import { Agent, AppProcess, repoRoot } from '../lib/children.ts';
import type { TrackedProcess } from '../lib/procs.ts';
import { repeat, skippedRow, type BenchContext, type ResultRow } from '../lib/measure.ts';
import { appEnv, benchNamespace, benchRedisPrefix, benchSchema } from '../lib/platform.ts';

/** The projections the bench knows, with the durable consumer (streams/EVENTS.<durable>.consumer.json) each reads. */
const PROJECTIONS = [
  { name: 'warm', durable: 'warm-projector' },
  { name: 'hot', durable: 'hot-projector' },
  { name: 'cold', durable: 'cold-archiver' },
] as const;

/** How often the drain polls the consumers' ack floors; the rate's start and end are known to ± this. */
let POLL_MS = 250;

/** Every drain run starts a fresh projector process against a fresh store: a warm-up run would carry nothing over. */
const NO_WARMUP = { warmup: false } as const;

async function ackFloor(jsm: JetStreamManager, stream: string, durable: string): Promise<{ delivered: number; acked: number } | undefined> {
  try {
    const info = await jsm.consumers.info(stream, durable);
    return { delivered: info.delivered.stream_seq, acked: info.ack_floor.stream_seq };
  } catch {
    return undefined;
  }
}

export async function drain(ctx: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const natsUrl = ctx.env['NATS_URL']!;
  // The quick run's smaller stream drains in a second or two: poll finer (its consumer infos are cheaper too).
  POLL_MS = ctx.quick ? 100 : 250;
  const total = ctx.quick ? 20_000 : 150_000;
  await using space = await benchNamespace(natsUrl);
  const filler = await Agent.start('raw-client', 'nats-raw');
  try {
    ctx.progress(`pre-filling ${space.stream} with ${total} events`);
    // Recent event times (the readings span the last hour or so): with the cold tier running, older events fall
    // past warm retention and tiering would remove them from warm while the drain writes them.
    const start = Date.now() - Math.ceil(total / 50) * 1000 - 60_000;
    await filler.run({ op: 'publish', mode: 'core', natsUrl, scheme: space.scheme, idPrefix: 'drain', count: total, window: 4096, start });
  } finally {
    await filler.stop();
  }
  const nc = await connect({ servers: natsUrl.split(','), name: 'tideway-bench-drain' });
  const jsm = await jetstreamManager(nc);
  const lastSeq = (await jsm.streams.info(space.stream)).state.last_seq;

  /** Runs the projector with `names` into fresh stores until every one has committed the whole stream. */
  const drainOnce = async (names: readonly string[], hooks: { onMark?(phase: 'begin' | 'end'): void; onProgress?(t: string): void }, procs: TrackedProcess[]): Promise<{ value: number; seconds: number }> => {
    const durables = PROJECTIONS.filter((p) => names.includes(p.name)).map((p) => p.durable);
    for (const d of durables) await jsm.consumers.delete(space.stream, d).catch(() => undefined);
    await using schema = await benchSchema(ctx.env['DATABASE_URL']!);
    await using redis = benchRedisPrefix(ctx.env['REDIS_URL']!);
    const port = await freePort();
    const env = appEnv(ctx.env, space, schema.schema, {
      PROJECTIONS: names.join(','),
      PROJECTOR_PORT: String(port),
      PROJECTOR_JOBS: 'off',
      HOT_PREFIX: redis.prefix,
    });
    let started = 0;
    let first = 0;
    const poll = (async () => {
      for (;;) {
        if (procs.length === 0) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        const floors = await Promise.all(durables.map((d) => ackFloor(jsm, space.stream, d)));
        const now = performance.now();
        if (!started && floors.some((f) => f && f.delivered > 0)) {
          started = now;
          first = Math.min(...floors.map((f) => f?.acked ?? 0));
          hooks.onMark?.('begin');
        }
        if (started && floors.every((f) => f && f.acked >= lastSeq)) {
          hooks.onMark?.('end');
          return now;
        }
        if (started) hooks.onProgress?.(`${Math.min(...floors.map((f) => f?.acked ?? 0))}/${lastSeq} committed`);
        // Not faster: consumer info makes NATS 2.9 count the pending messages under the consumer's wildcard filter,
        // and polling it every 20 ms cost nats-server more CPU than the drain itself.
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    })();
    const projector = await AppProcess.start('projector', env, port, { onSpawn: (p) => procs.splice(0, procs.length, p) });
    try {
      const ended = await Promise.race([poll, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`drain of ${names.join(',')} did not finish in 10 minutes`)), 600_000))]);
      const seconds = (ended - started) / 1000;
      return { value: (lastSeq - first) / seconds, seconds };
    } finally {
      await projector.stop();
    }
  };

  try {
    const available: string[] = [];
    // The projections the projector offers (PROJECTION_NAMES in its config); others are not built yet.
    const offered = /PROJECTION_NAMES\s*=\s*\[([^\]]*)\]/.exec(readFileSync(`${repoRoot}apps/projector/src/config.ts`, 'utf8'))?.[1] ?? '';
    // BENCH_DRAIN=warm,hot limits the drain to some projections (for iterating on one of them).
    const wanted = process.env['BENCH_DRAIN']?.split(',').map((n) => n.trim()).filter(Boolean);
    for (const p of PROJECTIONS) {
      if (wanted && !wanted.includes(p.name)) continue;
      if (!offered.includes(`'${p.name}'`)) {
        rows.push(skippedRow(`drain.${p.name}`, 'drain', `Drain into the ${p.name} projection`, 'events/s', `not available: the projector does not offer PROJECTIONS=${p.name} yet`));
        continue;
      }
      // A projector that does not know the projection refuses to start: the projection is not built yet.
      const procs: TrackedProcess[] = [];
      try {
        const r = await repeat(ctx, `drain into ${p.name}`, () => procs, (_i, hooks) => drainOnce([p.name], hooks, procs), NO_WARMUP);
        rows.push({
          id: `drain.${p.name}`,
          scenario: 'drain',
          name: `Drain ${lastSeq.toLocaleString('en-US')} pre-filled events into the ${p.name} projection`,
          unit: 'events/s',
          ...r,
          details: { events: lastSeq, pollMs: POLL_MS },
          ...(ctx.quick ? { note: 'quick run: a drain of a second or two, start-up and polling included: indicative only' } : {}),
        });
        available.push(p.name);
      } catch (error) {
        const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        ctx.log(`drain into ${p.name}: not available (${message})`);
        rows.push(skippedRow(`drain.${p.name}`, 'drain', `Drain into the ${p.name} projection`, 'events/s', `not available: ${message}`));
      }
    }
    if (ctx.quick) {
      // Not a budget line, and the slowest drain of a quick run (three projections in one process): full runs only.
      rows.push(skippedRow('drain.all', 'drain', 'Drain into all projections together', 'events/s', 'quick run: measured in full runs only'));
    } else if (available.length > 1) {
      const procs: TrackedProcess[] = [];
      const r = await repeat(ctx, `drain into ${available.join('+')}`, () => procs, (_i, hooks) => drainOnce(available, hooks, procs), NO_WARMUP);
      rows.push({ id: 'drain.all', scenario: 'drain', name: `Drain into ${available.join(' + ')} together (one projector process)`, unit: 'events/s', ...r, details: { events: lastSeq, projections: available } });
    } else {
      rows.push(skippedRow('drain.all', 'drain', 'Drain into all projections together', 'events/s', `only ${available.join(', ') || 'no projection'} available`));
    }
  } finally {
    await nc.close();
  }
  return rows;
}
