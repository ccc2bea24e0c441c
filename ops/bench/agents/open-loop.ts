/**
 * Open-loop load for end-to-end latency: requests leave on a fixed schedule whatever the answers (so queueing in
 * the platform shows instead of slowing the generator down), and every event's latency is measured from its ingest
 * response (202, carrying its stream sequence) to the moment it is queryable: the projection's committed
 * checkpoint — warm: `projection_checkpoints` in PostgreSQL, hot: `<prefix>_cp:hot` in Redis, both written in the
 * same transaction/script as the data — polled every `pollMs`. A sample of events is also polled through the
 * query API (`GET /v1/events/{id}`), to confirm "committed" means "queryable".
 */
import http from 'node:http';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { serveAgent, type AgentContext } from '../lib/agent-runtime.ts';
import { sensorJson } from '../lib/payload.ts';
import { percentiles } from '../lib/stats.ts';
import { post } from '../lib/http.ts';

interface Args {
  readonly ingestUrl: string;
  readonly queryUrl: string;
  readonly rate: number;
  readonly batch: number;
  readonly durationMs: number;
  readonly idPrefix: string;
  readonly databaseUrl: string;
  readonly schema: string;
  readonly warmProjection: string;
  readonly redisUrl?: string;
  readonly hotCheckpointKey?: string;
  readonly pollMs: number;
  /** Poll the query API for one event of every Nth request. */
  readonly apiSampleEvery: number;
}

interface Tier {
  readonly name: string;
  checkpoint: number;
  readonly pending: { seq: number; t: number }[];
  readonly latencies: number[];
  read(): Promise<number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let sql: postgres.Sql | undefined;
let redis: Redis | undefined;

async function run(args: Args, ctx: AgentContext): Promise<object> {
  sql ??= postgres(args.databaseUrl, { max: 1, onnotice: () => {}, connection: { search_path: args.schema, application_name: 'tideway-bench-e2e' } });
  const db = sql;
  if (args.redisUrl && args.hotCheckpointKey) redis ??= new Redis(args.redisUrl);
  const tiers: Tier[] = [
    {
      name: 'warm',
      checkpoint: 0,
      pending: [],
      latencies: [],
      read: async () => Number((await db<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${args.warmProjection}`)[0]?.seq ?? 0),
    },
  ];
  if (redis && args.hotCheckpointKey) {
    const r = redis;
    const key = args.hotCheckpointKey;
    tiers.push({ name: 'hot', checkpoint: 0, pending: [], latencies: [], read: async () => Number((await r.get(key)) ?? 0) });
  }
  for (const t of tiers) t.checkpoint = await t.read();

  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const ingest = new URL('/v1/events', args.ingestUrl);
  const intervalMs = (1000 * args.batch) / args.rate;
  const responseLatencies: number[] = [];
  const apiLatencies: number[] = [];
  const backlog: { t: number; events: number }[] = [];
  let sent = 0;
  let answered = 0;
  let failed = 0;
  let firstError: string | undefined;
  let maxOutstanding = 0;
  let maxAckedSeq = 0;
  let sending = true;
  let polling = true;

  const settle = (tier: Tier, now: number): void => {
    let keep = 0;
    for (const p of tier.pending) {
      if (p.seq <= tier.checkpoint) tier.latencies.push(Math.max(0, now - p.t));
      else tier.pending[keep++] = p;
    }
    tier.pending.length = keep;
  };
  const poller = (async () => {
    while (polling) {
      for (const tier of tiers) {
        const cp = await tier.read();
        if (cp > tier.checkpoint) {
          tier.checkpoint = cp;
          settle(tier, performance.now());
        }
      }
      await sleep(args.pollMs);
    }
  })();
  const sampler = setInterval(() => {
    backlog.push({ t: performance.now(), events: Math.max(0, maxAckedSeq - tiers[0]!.checkpoint) });
    ctx.progress(`${sent * args.batch} sent, ${answered * args.batch} acked, warm backlog ${Math.max(0, maxAckedSeq - tiers[0]!.checkpoint)}`);
  }, 500);

  // One API probe at a time, polling every 20 ms (≤ 50 requests/s), so probing does not load the query service:
  // three probes every 10 ms cost the query service about a sixth of a core once a backlog made each probe poll
  // for a second or more, CPU the platform under test then lacked.
  let probing = 0;
  const pollApi = async (id: string, since: number): Promise<void> => {
    if (probing >= 1) return;
    probing++;
    const deadline = since + 30_000;
    try {
      await probe(id, since, deadline);
    } finally {
      probing--;
    }
  };
  const probe = async (id: string, since: number, deadline: number): Promise<void> => {
    while (performance.now() < deadline) {
      const res = await fetch(`${args.queryUrl}/v1/events/${encodeURIComponent(id)}`);
      await res.arrayBuffer();
      if (res.status === 200) {
        apiLatencies.push(performance.now() - since);
        return;
      }
      await sleep(20);
    }
  };

  const send = (k: number, scheduledAt: number): Promise<void> => {
    const parts: string[] = [];
    for (let i = 0; i < args.batch; i++) parts.push(sensorJson(`${args.idPrefix}-${k}-${i}`, k * args.batch + i, undefined));
    return post(agent, ingest, 'application/json', `[${parts.join(',')}]`).then(
      (reply) => {
        const now = performance.now();
        answered++;
        responseLatencies.push(now - scheduledAt);
        if (reply.status !== 202) {
          failed++;
          firstError ??= `${reply.status} ${reply.body.slice(0, 200)}`;
          return;
        }
        const body = JSON.parse(reply.body) as { results: { id: string; seq: number }[] };
        for (const r of body.results) {
          maxAckedSeq = Math.max(maxAckedSeq, r.seq);
          for (const tier of tiers) {
            if (r.seq <= tier.checkpoint) tier.latencies.push(0);
            else tier.pending.push({ seq: r.seq, t: now });
          }
        }
        if (k % args.apiSampleEvery === 0 && body.results[0]) void pollApi(body.results[0].id, now);
      },
      (error: unknown) => {
        answered++;
        failed++;
        firstError ??= error instanceof Error ? error.message : String(error);
      },
    );
  };

  await ctx.mark('begin');
  const t0 = performance.now();
  const requests: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(Math.floor((now - t0) / intervalMs) + 1, Math.floor(args.durationMs / intervalMs));
      while (sent < due) {
        requests.push(send(sent, t0 + sent * intervalMs));
        sent++;
      }
      maxOutstanding = Math.max(maxOutstanding, sent - answered);
      if (now - t0 >= args.durationMs) {
        sending = false;
        resolve();
      } else setTimeout(tick, 1);
    };
    tick();
  });
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.all(requests);
  // Drain: wait until every acknowledged event is queryable (or 30 s).
  const drainDeadline = performance.now() + 30_000;
  while (tiers.some((t) => t.pending.length > 0) && performance.now() < drainDeadline) await sleep(5);
  polling = false;
  await poller;
  clearInterval(sampler);
  await ctx.mark('end');
  agent.destroy();

  // Backlog trend over the sending period: mean of the last third against the mean of the first third.
  const during = backlog.filter((b) => b.t - t0 <= args.durationMs);
  const third = Math.max(1, Math.floor(during.length / 3));
  const mean = (xs: { events: number }[]): number => xs.reduce((a, b) => a + b.events, 0) / Math.max(1, xs.length);
  const early = mean(during.slice(0, third));
  const late = mean(during.slice(-third));
  const backlogGrowing = late > early + 0.1 * args.rate && late > 0.25 * args.rate;
  const achievedRate = (answered * args.batch) / sendSeconds;
  return {
    sending,
    offeredRate: args.rate,
    achievedRate,
    keptUp: sent * args.batch >= 0.95 * args.rate * (args.durationMs / 1000) && failed === 0,
    failed,
    firstError,
    maxOutstandingRequests: maxOutstanding,
    backlogEarly: Math.round(early),
    backlogLate: Math.round(late),
    backlogMax: Math.max(0, ...during.map((b) => b.events)),
    backlogGrowing,
    response: percentiles(responseLatencies),
    api: percentiles(apiLatencies),
    tiers: Object.fromEntries(tiers.map((t) => [t.name, { ...percentiles(t.latencies), unresolved: t.pending.length }])),
  };
}

serveAgent<Args>(run);
