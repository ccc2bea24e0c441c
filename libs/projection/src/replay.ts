import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { StoredEvent } from '@tideway/events';
import type { ProjectionStore } from './port.ts';
import { decodeStoredEvent } from './runner.ts';

/** A range of the log: stream sequences or event receive times (inclusive). Omitted ends are open. */
export interface LogRange {
  readonly fromSeq?: number;
  readonly toSeq?: number;
  readonly fromTime?: string;
  readonly toTime?: string;
}

/** Parses a CLI bound: a positive integer is a sequence, anything else an RFC 3339 time. */
export function parseBound(value: string | undefined, side: 'from' | 'to'): Partial<LogRange> {
  if (value === undefined) return {};
  if (/^\d+$/.test(value)) return side === 'from' ? { fromSeq: Number(value) } : { toSeq: Number(value) };
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`--${side} must be a stream sequence or an RFC 3339 time, got "${value}"`);
  const iso = new Date(t).toISOString();
  return side === 'from' ? { fromTime: iso } : { toTime: iso };
}

/**
 * Events older than the stream holds, from the cold archive. Returns the events with sequences in
 * `[fromSeq, toSeq]`, ascending.
 */
export type ArchiveSource = (fromSeq: number, toSeq: number) => AsyncIterable<StoredEvent>;

export interface BoundedReadOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly range: LogRange;
  /** Subject filter (default: the whole stream). */
  readonly filterSubject?: string;
  /** Events per yielded batch. */
  readonly batchSize?: number;
  /** Where events the stream no longer holds come from; without it they are reported as missing. */
  readonly archive?: ArchiveSource;
}

export interface BoundedRead {
  /** The resolved last sequence of the range (the stream's last sequence at start when `toSeq` is open). */
  readonly lastSeq: number;
  /** The first sequence actually read from JetStream. */
  readonly firstStreamSeq: number;
  readonly batches: AsyncIterable<StoredEvent[]>;
}

/**
 * Reads a bounded range of the log as batches, oldest first, and ends at the range's end — the one
 * bounded-stream interface behind replays, rebuilds and batch jobs. JetStream serves what it still holds (an
 * ordered consumer: no acks, flow-controlled, gap-free); events before the stream's first sequence come from
 * the cold archive. An open end is resolved once, at start, to the stream's last sequence, so a replay of a live
 * stream terminates.
 */
export async function readBounded(options: BoundedReadOptions): Promise<BoundedRead> {
  const jsm = await jetstreamManager(options.nc);
  const state = (await jsm.streams.info(options.stream)).state;
  const lastSeq = Math.min(options.range.toSeq ?? state.last_seq, state.last_seq);
  const fromSeq = Math.max(options.range.fromSeq ?? 1, 1);
  const firstStreamSeq = Math.max(fromSeq, state.first_seq);
  const size = options.batchSize ?? 1000;
  const range = options.range;
  const inTime = (e: StoredEvent): boolean =>
    (range.fromTime === undefined || e.event.recordedtime >= range.fromTime) &&
    (range.toTime === undefined || e.event.recordedtime <= range.toTime);

  async function* batches(): AsyncGenerator<StoredEvent[]> {
    let batch: StoredEvent[] = [];
    if (fromSeq < state.first_seq && options.archive) {
      for await (const e of options.archive(fromSeq, Math.min(state.first_seq - 1, lastSeq))) {
        if (!inTime(e)) continue;
        batch.push(e);
        if (batch.length >= size) {
          yield batch;
          batch = [];
        }
      }
    }
    if (firstStreamSeq <= lastSeq && state.messages > 0) {
      const js = jetstream(options.nc);
      const start =
        range.fromTime && range.fromSeq === undefined
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: range.fromTime }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: firstStreamSeq };
      const consumer = await js.consumers.get(options.stream, {
        ...start,
        ...(options.filterSubject ? { filter_subjects: options.filterSubject } : {}),
      });
      // Nothing in range for this filter: an ordered consumer would wait for new messages forever.
      const pending = (await consumer.info()).num_pending;
      const messages = pending === 0 ? undefined : await consumer.consume({ max_messages: Math.max(size * 2, 512) });
      if (messages)
        try {
          for await (const msg of messages) {
            if (msg.seq > lastSeq) break;
            const decoded = decodeStoredEvent(msg);
            if (decoded.ok && inTime(decoded.stored)) batch.push(decoded.stored);
            if (batch.length >= size) {
              yield batch;
              batch = [];
            }
            if (msg.seq >= lastSeq || msg.info.pending === 0) break;
            if (range.toTime !== undefined && decoded.ok && decoded.stored.event.recordedtime > range.toTime) break;
          }
        } finally {
          await messages.close();
        }
    }
    if (batch.length > 0) yield batch;
  }
  return { lastSeq, firstStreamSeq, batches: batches() };
}

export interface ReplayProgress {
  readonly seq: number;
  readonly lastSeq: number;
  readonly events: number;
}

/**
 * Replays a bounded range into a projection store — the batch path, through the same `apply` the live runner
 * uses. Returns the events read and applied.
 */
export async function replayInto(
  store: ProjectionStore,
  read: BoundedRead,
  onProgress?: (p: ReplayProgress) => void,
): Promise<{ events: number; applied: number; checkpoint: number }> {
  let events = 0;
  let applied = 0;
  let checkpoint = await store.checkpoint();
  for await (const batch of read.batches) {
    const accepted = store.reject ? batch.filter((e) => store.reject!(e) === undefined) : batch;
    const result = await store.apply(accepted, batch.at(-1)!.seq);
    events += batch.length;
    applied += result.applied;
    checkpoint = result.checkpoint;
    onProgress?.({ seq: batch.at(-1)!.seq, lastSeq: read.lastSeq, events });
  }
  return { events, applied, checkpoint };
}
