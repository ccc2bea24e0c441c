/**
 * Batch mode = bounded replay: the same engine over a range of the EVENTS stream, one engine per partition from an
 * empty state. It reads the range once with a short-lived ordered consumer (no acks, deleted at the end), stops at
 * the range's end, then flushes every open window (results with trigger `end-of-stream`) and reports counts.
 *
 * Over the same messages the engine emits exactly what the live processor emits, because both are functions of
 * the partition's message sequence only; the flush at the end is the one difference (a live pipeline keeps those
 * windows open until event time moves past them).
 */
import { DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventFilter, type SubjectScheme } from '@tideway/events';
import { PipelineEngine, type EngineCounters, type EngineOutput } from './engine.ts';
import { PipelineError, PipelineErrorCode } from './errors.ts';
import { RemoteEngines } from './replay-host.ts';
import type { PartitionReport } from './replay-wire.ts';
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
  /** Messages pulled per request; default 4,096. Under an asynchronous `onOutput` about twice this many are held at most. */
  readonly fetchBatch?: number;
  /**
   * Run the engines on a second thread while this one reads (see `replay-host.ts`); outputs are the same and in
   * the same order either way. Default: when the range holds at least {@link ENGINE_THREAD_MIN_MESSAGES} messages.
   */
  readonly engineThread?: boolean;
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

/** A partition being replayed: its engine is built when its first message arrives (many ranges miss partitions). */
interface Lane {
  readonly partition: number;
  engine?: PipelineEngine;
}

/** Messages asked for per pull by default: large enough that the pull round trips do not count. */
const DEFAULT_FETCH_BATCH = 4_096;

/**
 * Ranges from this many messages up run their engines on a second thread by default: below it the thread's start
 * and its first, not yet optimised, messages cost more than the overlap gains.
 */
export const ENGINE_THREAD_MIN_MESSAGES = 20_000;

/** A read that gets no message for this long takes the range as ended (its rest was purged or expired under it). */
const IDLE_END_MS = 5_000;

/**
 * Runs a pipeline over a bounded range of the stream and reports counts.
 *
 * All requested partitions are read through **one** ordered consumer whose filter covers them
 * (`<root>.evt.<tenant|*>.*.<type>`: NATS 2.9 allows one filter subject per consumer, and the partition token sits
 * before the type for exactly this), and each message is routed to its partition's engine. A consumer per
 * partition, read one after the other, made the server scan the whole range once per partition and cost a pull
 * round trip per small batch; the single pass reads the range once. Only a single requested partition gets its
 * own filter; for any other subset the consumer reads every partition and the ones not asked for are skipped here
 * (cheaper than a server scan of the range per partition).
 *
 * Every partition's engine still sees exactly its own messages in stream order, so each partition's outputs are
 * the same, in the same order, as when partitions were replayed one by one; only outputs of different partitions
 * interleave. At the end of the range every partition's windows are flushed, partition by partition in the order
 * of `partitions`. When `onOutput` returns a promise, nothing further is processed until it settles, and the
 * reader pulls at most `fetchBatch` messages ahead (memory stays bounded under a slow `onOutput`).
 *
 * Large ranges (see `engineThread`) run the engines on a second thread: this one reads and routes, packing the
 * messages into batches for the engine thread, which sends each batch's outputs back to be handed to `onOutput`
 * in order. The two overlap, so the replay runs at the pace of the slower of reading and processing rather than
 * of their sum; at most 32 batches (`MAX_IN_FLIGHT` in replay-host.ts, some 20,000 messages) are in flight, so a
 * slow `onOutput` still holds the reader back.
 *
 * @example
 * const report = await replayPipeline({ nc, stream: 'EVENTS', scheme, spec, from: { seq: 1 }, to: { seq: 50_000 }, onOutput: (o) => outputs.push(o) });
 */
export async function replayPipeline(options: ReplayOptions): Promise<ReplayReport> {
  const jsm = await jetstreamManager(options.nc);
  const js = jetstream(options.nc);
  const { scheme, spec, onOutput } = options;
  const state = (await jsm.streams.info(options.stream)).state;
  const fromTime = options.from && 'time' in options.from ? options.from.time.getTime() : undefined;
  const toTime = options.to && 'time' in options.to ? options.to.time.getTime() : undefined;
  const lastSeq = options.to && 'seq' in options.to ? Math.min(options.to.seq, state.last_seq) : state.last_seq;
  const fromSeq = options.from && 'seq' in options.from ? Math.max(options.from.seq, state.first_seq) : state.first_seq;
  if (options.from && 'seq' in options.from && options.to && 'seq' in options.to && options.from.seq > options.to.seq) {
    throw new PipelineError(PipelineErrorCode.InvalidRange, `range ${options.from.seq}..${options.to.seq} is empty`);
  }
  const partitions = options.partitions ?? Array.from({ length: scheme.partitions }, (_, p) => p);
  // Routing is by the subject's partition token, compared as text: exactly what a per-partition filter
  // (`….<tenant>.7.<type>`) would select.
  const lanes = new Map<string, Lane>();
  for (const partition of partitions) if (!lanes.has(String(partition))) lanes.set(String(partition), { partition });
  const single = lanes.size === 1 ? partitions[0] : undefined;
  const filter = eventFilter(scheme, { ...(spec.source.tenant === undefined ? {} : { tenant: spec.source.tenant }), ...(single === undefined ? {} : { partition: single }), type: spec.source.type });
  const prefix = `${scheme.root}.evt.`;
  const prefixLength = prefix.length;
  const sourceType = spec.source.type;
  const sourceTenant = spec.source.tenant;
  /** Set when the consumer reads unfiltered: the messages of the pipeline's source are then picked out here. */
  let matchHere = false;
  let firstSeen = Infinity;
  let lastSeen = 0;

  /** What the consumer's filter subject would select (given the partition token is checked apart). */
  const matchesSource = (subject: string, tenantEnd: number, partitionEnd: number): boolean =>
    partitionEnd > 0 &&
    subject.startsWith(prefix) &&
    subject.length - partitionEnd - 1 === sourceType.length &&
    subject.endsWith(sourceType) &&
    (sourceTenant === undefined || (tenantEnd - prefixLength === sourceTenant.length && subject.startsWith(sourceTenant, prefixLength)));

  /** Hands outputs to `onOutput` in order; awaits only what returns a promise (the common sink is synchronous). */
  const emit = async (outputs: readonly EngineOutput[], from = 0): Promise<void> => {
    if (!onOutput) return;
    for (let i = from; i < outputs.length; i++) {
      const pending = onOutput(outputs[i]!);
      if (pending) await pending;
    }
  };
  /** The engine thread's side of this replay, when the engines run there. */
  let remote: RemoteEngines | undefined;
  /** Reports of the engines that ran on the engine thread. */
  let remoteReports: readonly PartitionReport[] = [];
  /**
   * Processes one message of the range; returns a promise only when `onOutput` returned one (the caller then waits
   * for it before the next message), so a synchronous sink costs no promise per message.
   */
  const handle = (msg: JsMsg): Promise<void> | undefined => {
    const subject = msg.subject;
    const tenantEnd = subject.indexOf('.', prefixLength);
    const partitionEnd = tenantEnd < 0 ? -1 : subject.indexOf('.', tenantEnd + 1);
    if (matchHere && !matchesSource(subject, tenantEnd, partitionEnd)) return undefined; // another type or tenant
    const lane = partitionEnd < 0 ? undefined : lanes.get(subject.slice(tenantEnd + 1, partitionEnd));
    if (!lane) return undefined; // a partition not asked for
    if ((fromTime !== undefined || toTime !== undefined) && !within(recordedAt(msg), fromTime, toTime)) return undefined;
    const seq = msg.seq;
    if (seq < firstSeen) firstSeen = seq;
    if (seq > lastSeen) lastSeen = seq;
    if (remote) return remote.add(seq, Math.floor(msg.info.timestampNanos / 1_000_000), lane.partition, subject, msg.data);
    lane.engine ??= new PipelineEngine(spec, { scheme, partition: lane.partition });
    const outputs = lane.engine.process(sourceMessageOf(msg));
    if (!onOutput) return undefined;
    for (let i = 0; i < outputs.length; i++) {
      const pending = onOutput(outputs[i]!);
      if (pending) return pending.then(() => emit(outputs, i + 1));
    }
    return undefined;
  };

  if (state.messages > 0 && fromSeq <= lastSeq) {
    const start =
      fromTime !== undefined
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(fromTime - CLOCK_SKEW_MS).toISOString() }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq };
    // An ordered consumer: no acks, flow-controlled, and recreated from the last sequence seen if a message goes
    // missing, so the pass is gap-free.
    //
    // A filter subject is not free: NATS 2.9 spends about twice the CPU per delivered message on a filtered
    // consumer (wildcards, even `<root>.evt.>`), which halved the rate of the whole replay on a 2-core machine.
    // So when most of what the range holds is the pipeline's own source anyway, the consumer reads the range
    // unfiltered and the source's messages are picked out here (by the same subject tokens); when they are the
    // minority (another partition, a rare type), the server filters.
    let consumer = await js.consumers.get(options.stream, { ...start, filter_subjects: filter });
    let pending = (await consumer.info(true)).num_pending;
    const everything = await js.consumers.get(options.stream, start);
    const all = (await everything.info(true)).num_pending;
    if (pending * 2 >= all) {
      await consumer.delete().catch(() => undefined);
      consumer = everything;
      pending = all;
      matchHere = true;
    } else {
      await everything.delete().catch(() => undefined);
    }
    const reopen = (seq: number): Promise<Consumer> =>
      js.consumers.get(options.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq, ...(matchHere ? {} : { filter_subjects: filter }) });
    let current = consumer;
    if (pending > 0 && (options.engineThread ?? pending >= ENGINE_THREAD_MIN_MESSAGES)) {
      remote = new RemoteEngines(spec, scheme, (outputs) => emit(outputs));
    }
    try {
      if (pending > 0) {
        const next = async (seq: number): Promise<Consumer> => {
          const previous = current;
          current = await reopen(seq);
          void previous.delete().catch(() => undefined);
          return current;
        };
        await readRange(consumer, next, lastSeq, options.fetchBatch ?? DEFAULT_FETCH_BATCH, handle);
      }
      if (remote) {
        const done = remote;
        remote = undefined;
        remoteReports = await done.finish(partitions, options.flush !== false);
      }
    } finally {
      remote?.abandon();
      await current.delete().catch(() => undefined);
    }
  }
  const reports: { partition: number; lastSeq: number; counters: EngineCounters }[] = [];
  const flushed = new Set<PipelineEngine>();
  const fromThread = new Map(remoteReports.map((r) => [r.partition, r] as const));
  for (const partition of partitions) {
    const lane = lanes.get(String(partition))!;
    const engine = lane.engine;
    const remoteReport = fromThread.get(partition);
    if (remoteReport) {
      reports.push({ partition, lastSeq: remoteReport.lastSeq, counters: { ...remoteReport.counters } });
      continue;
    }
    if (!engine) {
      reports.push({ partition, lastSeq: 0, counters: { ...ZERO } });
      continue;
    }
    // A partition listed twice is flushed once; the report lists it twice, as before.
    if (options.flush !== false && !flushed.has(engine)) {
      flushed.add(engine);
      await emit(engine.flush());
    }
    reports.push({ partition, lastSeq: engine.lastSeq, counters: { ...engine.counters } });
  }
  const totals = { ...ZERO };
  for (const r of reports) for (const k of Object.keys(totals) as (keyof EngineCounters)[]) totals[k] += r.counters[k];
  return {
    pipeline: spec.name,
    stream: options.stream,
    range: { fromSeq: Number.isFinite(firstSeen) ? firstSeen : fromSeq, toSeq: lastSeen || lastSeq },
    partitions: reports,
    totals,
  };
}

function within(ms: number, from: number | undefined, to: number | undefined): boolean {
  return (from === undefined || ms >= from) && (to === undefined || ms <= to);
}

/**
 * Delivers the range's messages to `handle` in stream order, through the ordered consumer's callback: no promise or
 * iterator step per message, and the next pull is already on its way while a batch is processed.
 *
 * `handle` returns a promise only when the output sink is asynchronous; later messages then wait in a queue, and
 * once `batch` of them wait the consumer is closed, to be reopened (through `reopen`) after the last one received
 * when the queue has drained. So at most about two batches are held, however slow the sink.
 *
 * Resolves after the message at `lastSeq` (or the last one pending, or the first beyond `lastSeq`), or when no
 * message came for {@link IDLE_END_MS}; rejects with the first error of `handle` or of the consumer.
 */
function readRange(
  first: Consumer,
  reopen: (seq: number) => Promise<Consumer>,
  lastSeq: number,
  batch: number,
  handle: (msg: JsMsg) => Promise<void> | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let messages: ConsumerMessages | undefined;
    let closing: Promise<unknown> = Promise.resolve();
    let queue: (JsMsg | undefined)[] = [];
    let head = 0;
    let lastReceived = 0;
    let received = 0;
    /** `received` at the idle watchdog's last look (-1: do not judge at the next one). */
    let seen = 0;
    /** Saw the range's end: nothing further is taken. */
    let ended = false;
    /** A promise of `handle` is outstanding, or the queue is being worked off. */
    let draining = false;
    /** The consumer was closed for back-pressure and is reopened once the queue has drained (until it is). */
    let paused = false;
    let settled = false;

    const stop = (): void => {
      clearInterval(watchdog);
      const open = messages;
      messages = undefined;
      if (open) void open.close().catch(() => undefined);
    };
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      stop();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const finishIfDone = (): void => {
      if (settled || !ended || draining || head < queue.length) return;
      settled = true;
      stop();
      resolve();
    };
    const drain = async (): Promise<void> => {
      try {
        while (head < queue.length && !settled) {
          const msg = queue[head]!;
          queue[head++] = undefined;
          const waiting = handle(msg);
          if (waiting) await waiting;
        }
        queue = [];
        head = 0;
        draining = false;
        if (paused && !ended && !settled) {
          await closing;
          await start(await reopen(lastReceived + 1));
          // the idle watchdog counts from here: a pause is not the range running dry
          seen = -1;
          paused = false;
        }
        finishIfDone();
      } catch (error) {
        fail(error);
      }
    };
    const onMessage = (msg: JsMsg): void => {
      if (settled || ended) return;
      received++;
      const seq = msg.seq;
      if (seq <= lastReceived) return;
      if (seq > lastSeq) {
        ended = true;
        return finishIfDone();
      }
      lastReceived = seq;
      if (seq === lastSeq || msg.info.pending === 0) ended = true;
      if (draining) queue.push(msg);
      else {
        let waiting: Promise<void> | undefined;
        try {
          waiting = handle(msg);
        } catch (error) {
          return fail(error);
        }
        if (waiting) {
          draining = true;
          waiting.then(drain, fail);
        }
      }
      if (ended) return finishIfDone();
      if (draining && !paused && queue.length - head >= batch) {
        paused = true;
        const open = messages;
        messages = undefined;
        closing = open ? open.close().catch(() => undefined) : Promise.resolve();
      }
    };
    const start = async (consumer: Consumer): Promise<void> => {
      const opened = await consumer.consume({ max_messages: batch, callback: onMessage });
      if (settled) return void opened.close().catch(() => undefined);
      messages = opened;
      void opened.closed().then((error) => {
        if (error && messages === opened) fail(error);
      });
    };
    const watchdog = setInterval(() => {
      if (received === seen && !draining && !paused) {
        ended = true;
        finishIfDone();
      }
      seen = received;
    }, IDLE_END_MS);
    start(first).catch(fail);
  });
}
