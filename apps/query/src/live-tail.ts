import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventEnvelope } from '@tideway/events';

/** One message of the EVENTS stream. */
export interface TailMessage {
  readonly seq: number;
  readonly subject: string;
  json(): unknown;
}

/** An open subscription: its messages in stream order, and how to stop it. */
export interface TailSubscription {
  readonly messages: AsyncIterable<TailMessage>;
  close(): Promise<void>;
}

/** Where the live tail reads from: the EVENTS stream of JetStream. */
export interface LiveTailSource {
  /** The stream's last sequence (0 when empty). */
  lastSeq(): Promise<number>;
  /** An ordered consumer on `filterSubject`, from `startSeq` (or only new messages). */
  subscribe(filterSubject: string, startSeq: number | undefined): Promise<TailSubscription>;
  /** The last sequence of another stream by its base name (e.g. DERIVED), or undefined when it does not exist. */
  lastSeqOf(baseName: string): Promise<number | undefined>;
  connected(): boolean;
}

/**
 * The live tail over JetStream: each client gets its own ordered consumer (ephemeral, no acks, flow-controlled
 * by the client library, recreated by it after a gap), filtered by one subject of the scheme in
 * `@tideway/events` — the only kind of filter a NATS 2.9 consumer has.
 */
export class JetStreamTailSource implements LiveTailSource {
  private jsm?: JetStreamManager;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly streamNameOf: (base: string) => string,
    readonly connected: () => boolean,
  ) {}

  private async manager(): Promise<JetStreamManager> {
    return (this.jsm ??= await jetstreamManager(this.nc));
  }

  async lastSeq(): Promise<number> {
    return (await (await this.manager()).streams.info(this.stream)).state.last_seq;
  }

  async lastSeqOf(baseName: string): Promise<number | undefined> {
    try {
      return (await (await this.manager()).streams.info(this.streamNameOf(baseName))).state.last_seq;
    } catch {
      return undefined;
    }
  }

  async subscribe(filterSubject: string, startSeq: number | undefined): Promise<TailSubscription> {
    const consumer = await jetstream(this.nc).consumers.get(this.stream, {
      filter_subjects: filterSubject,
      inactive_threshold: 30_000_000_000,
      ...(startSeq === undefined ? { deliver_policy: DeliverPolicy.New } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }),
    });
    const messages = await consumer.consume({ max_messages: 256 });
    return {
      messages: (async function* () {
        for await (const m of messages) yield { seq: m.seq, subject: m.subject, json: () => m.json<EventEnvelope>() };
      })(),
      close: async () => {
        await messages.close();
      },
    };
  }
}
