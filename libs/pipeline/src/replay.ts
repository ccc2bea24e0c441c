/**
 * Batch mode = bounded replay: the same engine over a range of the EVENTS stream, partition by partition, from an
 * empty state. It reads with short-lived ephemeral consumers (no acks, nothing left behind), stops at the range's
 * end, then flushes every open window (results with trigger `end-of-stream`) and reports counts.
 *
 * Over the same messages the engine emits exactly what the live processor emits, because both are functions of
 * the partition's message sequence only; the flush at the end is the one difference (a live pipeline keeps those
 * windows open until event time moves past them).
 */
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventFilter, type SubjectScheme } from '@tideway/events';
import { PipelineEngine, type EngineCounters, type EngineOutput } from './engine.ts';
import { PipelineError, PipelineErrorCode } from './errors.ts';
import { sourceMessageOf } from './runner.ts';
import type { PipelineSpec } from './spec.ts';

/**
 * One end of a replay range: a stream sequence, or a time compared with each event's `recordedtime` (when the
 * gateway received it; the time JetStream stored it for envelopes without one) — as `tideway replay` does.
 */
export type RangeBound = { readonly seq: number } | { readonly time: Date };

/**
 * A time-bounded read starts this long before the bound in stored time: an event is stored after the gateway
 * recorded it, and gateways' clocks may disagree a little. (It reads on to the range's last sequence, since a
 * stored time says nothing certain about the recorded times after it.)
 */
const CLOCK_SKEW_MS = 60_000;

const decoder = new TextDecoder();

/** The event's `recordedtime` in ms, or the stored time when it has none. */
function recordedAt(msg: JsMsg): number {
  try {
    const recorded = (JSON.parse(decoder.decode(msg.data)) as { recordedtime?: unknown }).recordedtime;
    const ms = typeof recorded === 'string' ? Date.parse(recorded) : NaN;
    if (Number.isFinite(ms)) return ms;
  } catch {
    /* not JSON: the engine quarantines it */
  }
  return Math.floor(msg.info.timestampNanos / 1_000_000);
}

/**
 * Parses a range bound as the CLI takes it: digits are a stream sequence, anything else an RFC 3339 time.
 *
 * @example
 * parseRangeBound('1500');                  // { seq: 1500 }
 * parseRangeBound('2026-01-05T08:00:00Z');  // { time: Date }
 */
export function parseRangeBound(text: string): RangeBound {
  if (/^\d+$/.test(text)) {
    const seq = Number(text);
    if (seq < 1) throw new PipelineError(PipelineErrorCode.InvalidRange, 'stream sequences start at 1');
    return { seq };
  }
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(text)) throw new PipelineError(PipelineErrorCode.InvalidRange, `"${text}" is neither a stream sequence nor an RFC 3339 time`);
  return { time: new Date(ms) };
}

/** Options of {@link replayPipeline}. */
export interface ReplayOptions {
  readonly nc: NatsConnection;
  /** The EVENTS stream's name. */
  readonly stream: string;
  readonly scheme: SubjectScheme;
  readonly spec: PipelineSpec;
  /** First message (inclusive); default the stream's first. */
  readonly from?: RangeBound;
  /** Last message (inclusive); default the stream's last message when the replay starts. */
  readonly to?: RangeBound;
  /** Partitions to replay; default all. */
  readonly partitions?: readonly number[];
  /** Flush open windows at the end of the range (default true). */
  readonly flush?: boolean;
  /** Receives every output, in order per partition. May return a promise (back-pressure). */
  readonly onOutput?: (output: EngineOutput) => void | Promise<void>;
  /** Messages fetched per request. Default 500. */
  readonly fetchBatch?: number;
}

/** What a replay did. */
export interface ReplayReport {
  readonly pipeline: string;
  readonly stream: string;
  /** The sequences the range resolved to (inclusive), as far as the stream held them. */
  readonly range: { readonly fromSeq: number; readonly toSeq: number };
  readonly partitions: readonly { readonly partition: number; readonly lastSeq: number; readonly counters: EngineCounters }[];
  readonly totals: EngineCounters;
}

const ZERO: EngineCounters = { messages: 0, duplicates: 0, invalid: 0, late: 0, windowResults: 0, provisionalResults: 0, anomalies: 0, alerts: 0 };

/**
 * Runs a pipeline over a bounded range of the stream and reports counts.
 *
 * @example
 * const report = await replayPipeline({ nc, stream: 'EVENTS', scheme, spec, from: { seq: 1 }, to: { seq: 50_000 }, onOutput: (o) => outputs.push(o) });
 */
export async function replayPipeline(options: ReplayOptions): Promise<ReplayReport> {
  const jsm = await jetstreamManager(options.nc);
  const js = jetstream(options.nc);
  const state = (await jsm.streams.info(options.stream)).state;
  const fromTime = options.from && 'time' in options.from ? options.from.time.getTime() : undefined;
  const toTime = options.to && 'time' in options.to ? options.to.time.getTime() : undefined;
  const lastSeq = options.to && 'seq' in options.to ? Math.min(options.to.seq, state.last_seq) : state.last_seq;
  const fromSeq = options.from && 'seq' in options.from ? Math.max(options.from.seq, state.first_seq) : state.first_seq;
  if (options.from && 'seq' in options.from && options.to && 'seq' in options.to && options.from.seq > options.to.seq) {
    throw new PipelineError(PipelineErrorCode.InvalidRange, `range ${options.from.seq}..${options.to.seq} is empty`);
  }
  const partitions = options.partitions ?? Array.from({ length: options.scheme.partitions }, (_, p) => p);
  const reports: { partition: number; lastSeq: number; counters: EngineCounters }[] = [];
  let firstSeen = Infinity;
  let lastSeen = 0;
  for (const partition of partitions) {
    const engine = new PipelineEngine(options.spec, { scheme: options.scheme, partition });
    const emit = async (outputs: readonly EngineOutput[]): Promise<void> => {
      if (!options.onOutput) return;
      for (const o of outputs) await options.onOutput(o);
    };
    if (state.messages > 0 && fromSeq <= lastSeq) {
      const start =
        options.from && 'time' in options.from
          ? { deliver_policy: 'by_start_time' as const, opt_start_time: new Date(options.from.time.getTime() - CLOCK_SKEW_MS).toISOString() }
          : { deliver_policy: 'by_start_sequence' as const, opt_start_seq: fromSeq };
      const info = await jsm.consumers.add(options.stream, {
        ...start,
        ack_policy: 'none',
        filter_subject: eventFilter(options.scheme, { ...(options.spec.source.tenant === undefined ? {} : { tenant: options.spec.source.tenant }), partition, type: options.spec.source.type }),
        replay_policy: 'instant',
        inactive_threshold: 60_000_000_000,
        mem_storage: true,
      });
      try {
        const consumer = await js.consumers.get(options.stream, info.name);
        let pending = info.num_pending;
        let done = pending === 0;
        while (!done) {
          // ask for no more than is pending, so the last fetch does not wait for its expiry
          const batch = await consumer.fetch({ max_messages: Math.max(1, Math.min(options.fetchBatch ?? 500, pending)), expires: 5_000 });
          let received = 0;
          for await (const msg of batch as AsyncIterable<JsMsg>) {
            received++;
            pending = msg.info.pending;
            if (done) continue;
            if (msg.seq > lastSeq) {
              done = true;
              continue;
            }
            if (fromTime !== undefined || toTime !== undefined) {
              const recorded = recordedAt(msg);
              if ((fromTime !== undefined && recorded < fromTime) || (toTime !== undefined && recorded > toTime)) {
                if (pending === 0) done = true;
                continue;
              }
            }
            firstSeen = Math.min(firstSeen, msg.seq);
            lastSeen = Math.max(lastSeen, msg.seq);
            await emit(engine.process(sourceMessageOf(msg)));
            if (pending === 0 || msg.seq === lastSeq) done = true;
          }
          if (received === 0) done = true;
        }
      } finally {
        await jsm.consumers.delete(options.stream, info.name).catch(() => undefined);
      }
    }
    if (options.flush !== false) await emit(engine.flush());
    reports.push({ partition, lastSeq: engine.lastSeq, counters: { ...engine.counters } });
  }
  const totals = { ...ZERO };
  for (const r of reports) for (const k of Object.keys(totals) as (keyof EngineCounters)[]) totals[k] += r.counters[k];
  return {
    pipeline: options.spec.name,
    stream: options.stream,
    range: { fromSeq: Number.isFinite(firstSeen) ? firstSeen : fromSeq, toSeq: lastSeen || lastSeq },
    partitions: reports,
    totals,
  };
}
