import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { parseEventSubject, quarantineSubject, type EventEnvelope, type StoredEvent, type SubjectScheme } from '@tideway/events';
import { BatchConsumer, JetStreamPublisher, positionConsumer, type ConsumerDefinition } from '@tideway/nats';
import type { AcquireWriterLock, ApplyResult, ProjectionStore, WriterLock } from './port.ts';

const REQUIRED = ['id', 'source', 'type', 'tenant', 'time', 'recordedtime', 'partitionkey'] as const;

export type Decoded = { ok: true; stored: StoredEvent } | { ok: false; reason: string };

/**
 * Decodes a stream message. The gateway validated the envelope with its zod schema before publishing, so the
 * consumer edge only checks the shape projections rely on; anything else is poison for quarantine.
 */
export function decodeStoredEvent(msg: Pick<JsMsg, 'seq' | 'subject' | 'json'>): Decoded {
  try {
    const event = msg.json<EventEnvelope>();
    const record = event as unknown as Record<string, unknown>;
    const missing = REQUIRED.filter((k) => typeof record[k] !== 'string');
    if (missing.length > 0) return { ok: false, reason: `missing attributes: ${missing.join(', ')}` };
    return { ok: true, stored: { seq: msg.seq, subject: msg.subject, event } };
  } catch (error) {
    return { ok: false, reason: `not JSON: ${(error as Error).message}` };
  }
}

export interface ProjectionRunnerOptions {
  readonly nc: NatsConnection;
  readonly connected: () => boolean;
  readonly stream: string;
  readonly consumer: ConsumerDefinition['config'];
  readonly store: ProjectionStore;
  readonly scheme: SubjectScheme;
  readonly acquireLock: AcquireWriterLock;
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly log: {
    info(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
  /** Called after every committed batch. */
  readonly onBatch?: (result: ApplyResult & { quarantined: number; batchSize: number }) => void;
}

export interface RunningProjection {
  readonly name: string;
  /** Batches and messages committed since start. */
  stats(): { batches: number; processed: number };
  stop(): Promise<void>;
}

/** The control subject of a projection: `pause` and `resume` requests for rebuild swaps. */
export function projectionControlSubject(scheme: SubjectScheme, projection: string): string {
  return `${scheme.root}.ctl.projection.${projection}`;
}

/** A control request and its answer. */
export type ControlRequest = { op: 'pause' } | { op: 'resume' };
export interface ControlReply {
  readonly ok: boolean;
  readonly state: 'running' | 'paused';
  readonly checkpoint: number;
  readonly error?: string;
}

/**
 * Runs one projection: takes its single-writer lock (replicas beyond the first wait as hot standbys),
 * positions its durable consumer right after the store's checkpoint, then feeds batches to the store and
 * acknowledges each batch (ack-all on its last message) only after the store committed it. Messages the store
 * cannot hold are published to the quarantine stream, with the reason, before the batch commits.
 *
 * It also answers `pause`/`resume` on its control subject: a rebuild pauses the live writer (the current batch
 * commits, the lock is released), swaps in the rebuilt store, and resumes it; on resume the consumer is
 * repositioned at the (new) store's checkpoint.
 */
export async function runProjection(options: ProjectionRunnerOptions): Promise<RunningProjection> {
  const { store, log } = options;
  const quarantine = new JetStreamPublisher(options.nc, { connected: options.connected });
  const jsm = await jetstreamManager(options.nc);

  /** Decodes a batch and quarantines what the store cannot hold; returns the events to apply. */
  const prepare = async (msgs: readonly JsMsg[]): Promise<{ good: StoredEvent[]; quarantined: number }> => {
    const good: StoredEvent[] = [];
    let quarantined = 0;
    for (const msg of msgs) {
      const decoded = decodeStoredEvent(msg);
      const reason = decoded.ok ? store.reject?.(decoded.stored) : decoded.reason;
      if (decoded.ok && reason === undefined) {
        good.push(decoded.stored);
        continue;
      }
      const tenant = (decoded.ok ? decoded.stored.event.tenant : parseEventSubject(options.scheme, msg.subject)?.tenant) ?? 'unknown';
      await quarantine.publish({
        subject: quarantineSubject(options.scheme, tenant, `projection-${store.name}`),
        payload: msg.data,
        msgId: `projection:${store.name}:${options.stream}:${msg.seq}`,
        headers: {
          'Tideway-Reason': reason ?? 'unknown',
          'Tideway-Origin-Stream': options.stream,
          'Tideway-Origin-Seq': String(msg.seq),
          'Tideway-Origin-Subject': msg.subject,
        },
      });
      quarantined++;
    }
    return { good, quarantined };
  };

  // With concurrent applies, batches take turns to be prepared and handed to the store, so the store sees
  // `apply` called in batch order whatever the quarantine publishes cost; the applies themselves may overlap.
  let turn: Promise<unknown> = Promise.resolve();
  const handler = async (msgs: readonly JsMsg[]): Promise<void> => {
    const started = turn.then(async () => {
      const { good, quarantined } = await prepare(msgs);
      // Quarantined messages still advance the checkpoint: the batch's last sequence is what gets acked.
      return { applying: store.apply(good, msgs.at(-1)!.seq), quarantined };
    });
    turn = started.catch(() => undefined);
    const { applying, quarantined } = await started;
    const result = await applying;
    options.onBatch?.({ ...result, quarantined, batchSize: msgs.length });
  };

  let lock: WriterLock | undefined;
  let batches: BatchConsumer | undefined;
  let totals = { batches: 0, processed: 0 };

  const begin = async (): Promise<void> => {
    lock = await options.acquireLock(store.name, () => log.info({ projection: store.name }, 'another process holds this projection; standing by'));
    try {
      await store.reopen?.();
      const position = await positionConsumer(jsm, options.stream, options.consumer, (await store.checkpoint()) + 1);
      if (position.action === 'repositioned') log.info({ projection: store.name, ...position }, 'consumer repositioned at the checkpoint');
      const consumer = await jetstream(options.nc).consumers.get(options.stream, options.consumer.durable_name);
      batches = new BatchConsumer(consumer, handler, {
        maxBatch: options.maxBatch,
        maxWaitMs: options.maxWaitMs,
        ack: 'last',
        concurrency: store.maxConcurrentApplies ?? 1,
        onError: (error, attempt) => log.error({ projection: store.name, err: error, attempt }, 'batch failed; retrying'),
      });
      await batches.start();
      log.info({ projection: store.name, stream: options.stream, consumer: options.consumer.durable_name }, 'projecting');
    } catch (error) {
      await lock.release();
      lock = undefined;
      throw error;
    }
  };

  const end = async (): Promise<void> => {
    if (batches) {
      await batches.stop();
      totals = { batches: totals.batches + batches.batches, processed: totals.processed + batches.processed };
      batches = undefined;
    }
    await options.nc.flush();
    await lock?.release();
    lock = undefined;
  };

  await begin();
  let control = Promise.resolve();
  const subscription = options.nc.subscribe(projectionControlSubject(options.scheme, store.name), {
    callback: (_err, msg) => {
      control = control.then(async () => {
        let reply: ControlReply;
        try {
          const request = msg.json<ControlRequest>();
          if (request.op === 'pause' && batches) await end();
          if (request.op === 'resume' && !batches) await begin();
          log.info({ projection: store.name, op: request.op }, 'control');
          reply = { ok: true, state: batches ? 'running' : 'paused', checkpoint: await store.checkpoint() };
        } catch (error) {
          reply = { ok: false, state: batches ? 'running' : 'paused', checkpoint: -1, error: (error as Error).message };
        }
        msg.respond(JSON.stringify(reply));
      });
    },
  });

  return {
    name: store.name,
    stats: () => ({
      batches: totals.batches + (batches?.batches ?? 0),
      processed: totals.processed + (batches?.processed ?? 0),
    }),
    stop: async () => {
      subscription.unsubscribe();
      await control;
      await end();
    },
  };
}
