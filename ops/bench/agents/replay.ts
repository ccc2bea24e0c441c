/**
 * Bounded replay of a pre-filled stream: the raw ordered consumer (no decoding), the same plus decoding every
 * envelope (the floor under any pipeline that reads events), the window + anomaly operators of
 * `@tideway/operators` composed directly over an ordered consumer, and the processor's own replay entry point
 * (`replayPipeline` of `@tideway/pipeline` with the shipped `pipelines/sensor-readings.pipeline.json`).
 */
import { readFile } from 'node:fs/promises';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Subject, merge, share } from 'rxjs';
import type { EventEnvelope } from '@tideway/events';
import { anomalyScores, stats, tumbling, windowAggregate } from '@tideway/operators';
import { serveAgent, type AgentContext } from '../lib/agent-runtime.ts';
import { repoRoot } from '../lib/children.ts';

interface Args {
  readonly mode: 'ordered' | 'decode' | 'operators' | 'processor';
  readonly natsUrl: string;
  readonly stream: string;
  readonly scheme: { root: string; partitions: number };
}

let nc: NatsConnection | undefined;

type Reading = EventEnvelope & { data: { device_id: string; reading_value: number } };

/** Reads the whole stream with an ordered consumer, calling `onMessage` for each; resolves after the last. */
async function orderedRead(conn: NatsConnection, stream: string, lastSeq: number, onMessage: (m: JsMsg) => void, ctx: AgentContext): Promise<number> {
  const consumer = await jetstream(conn).consumers.get(stream);
  let received = 0;
  const progress = setInterval(() => ctx.progress(`${received}/${lastSeq}`), 2000);
  await new Promise<void>((resolve, reject) => {
    consumer.consume({ max_messages: 1000, callback: (m) => {
      received++;
      onMessage(m);
      if (m.seq >= lastSeq) resolve();
    } }).then((messages) => {
      const check = setInterval(() => {
        if (received > 0 && received >= lastSeq) {
          clearInterval(check);
          void messages.close();
        }
      }, 5);
    }, reject);
  });
  clearInterval(progress);
  return received;
}

async function replay(args: Args, ctx: AgentContext): Promise<object> {
  nc ??= await connect({ servers: args.natsUrl.split(','), name: 'tideway-bench-replay', noAsyncTraces: true });
  const conn = nc;
  const lastSeq = (await (await jetstreamManager(conn)).streams.info(args.stream)).state.last_seq;
  const outputs: Record<string, number> = {};
  const count = (kind: string): void => void (outputs[kind] = (outputs[kind] ?? 0) + 1);
  let events = 0;
  let started = 0;
  if (args.mode === 'processor') {
    const { replayPipeline, parsePipelineSpec } = await import('@tideway/pipeline');
    const spec = parsePipelineSpec(JSON.parse(await readFile(`${repoRoot}pipelines/sensor-readings.pipeline.json`, 'utf8')));
    await ctx.mark('begin');
    started = performance.now();
    const report = await replayPipeline({ nc: conn, stream: args.stream, scheme: args.scheme, spec, onOutput: (o) => count((o as { kind?: string }).kind ?? 'output') });
    events = report.totals.messages;
  } else if (args.mode === 'ordered') {
    await ctx.mark('begin');
    started = performance.now();
    events = await orderedRead(conn, args.stream, lastSeq, () => {}, ctx);
  } else if (args.mode === 'decode') {
    // The floor under any pipeline that reads the events: the ordered consumer plus decoding each envelope (UTF-8
    // and JSON.parse) and reading the two fields the pipeline works on; no operators.
    const decoder = new TextDecoder();
    let sum = 0;
    await ctx.mark('begin');
    started = performance.now();
    events = await orderedRead(conn, args.stream, lastSeq, (m) => {
      const e = JSON.parse(decoder.decode(m.data)) as Reading;
      sum += e.data.reading_value + e.data.device_id.length;
    }, ctx);
    if (!Number.isFinite(sum)) throw new Error('decoded readings did not add up');
  } else {
    // The processor's chain, composed from the operators: 1-minute tumbling statistics per device and per-reading
    // anomaly scores per device, both keyed by data.device_id over event time.
    const input = new Subject<Reading>();
    const shared = input.pipe(share());
    const done = new Promise<void>((resolve, reject) =>
      merge(
        shared.pipe(
          windowAggregate({
            window: tumbling(60_000),
            key: (e: Reading) => e.data.device_id,
            eventTime: (e: Reading) => Date.parse(e.time),
            value: (e: Reading) => e.data.reading_value,
            aggregate: stats(),
            maxOutOfOrdernessMs: 5_000,
            maxFutureMs: Infinity,
          }),
        ),
        shared.pipe(anomalyScores({ key: (e: Reading) => e.data.device_id, value: (e: Reading) => e.data.reading_value, eventTime: (e: Reading) => Date.parse(e.time) })),
      ).subscribe({ next: (o) => count(o.kind), error: reject, complete: resolve }),
    );
    await ctx.mark('begin');
    started = performance.now();
    events = await orderedRead(conn, args.stream, lastSeq, (m) => input.next(m.json<Reading>()), ctx);
    input.complete();
    await done;
  }
  const seconds = (performance.now() - started) / 1000;
  await ctx.mark('end');
  return { events, seconds, rate: events / seconds, outputs };
}

serveAgent<Args>(replay);
