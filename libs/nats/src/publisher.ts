import { headers, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCode, TidewayError } from '@tideway/events';

/** What JetStream said about one stored message. */
export interface PublishAck {
  readonly stream: string;
  readonly seq: number;
  /** True when JetStream recognised the `Nats-Msg-Id` inside its duplicate window and did not store it again. */
  readonly duplicate: boolean;
}

/** One message to publish. */
export interface OutgoingMessage {
  readonly subject: string;
  readonly payload: Uint8Array;
  /** `Nats-Msg-Id`: JetStream's de-duplication key. */
  readonly msgId: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface JetStreamPublisherOptions {
  /** Upper bound of publishes awaiting their ack, across all callers. Further publishes wait for a slot. */
  readonly maxInFlight?: number;
  /** How long to wait for one ack. */
  readonly ackTimeoutMs?: number;
  /** Whether the connection is currently up; when it is not, publishing fails fast instead of queueing. */
  readonly connected?: () => boolean;
}

/** A counting semaphore: bounds in-flight publishes so memory stays bounded under overload. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  get waiters(): number {
    return this.waiting.length;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

interface RawPubAck {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

/**
 * Publishes to JetStream as plain core requests to the stream's subject and reads the PubAck replies. This is
 * the JetStream publish protocol without the client library's per-publish bookkeeping, several times cheaper
 * than `js.publish` in nats.js; an ack means the message is stored (or was already, when `duplicate`).
 */
export class JetStreamPublisher {
  private readonly slots: Slots;
  private readonly ackTimeoutMs: number;
  private readonly connected: () => boolean;
  private inFlight = 0;

  constructor(
    private readonly nc: NatsConnection,
    options: JetStreamPublisherOptions = {},
  ) {
    this.slots = new Slots(options.maxInFlight ?? 2048);
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.connected = options.connected ?? (() => !nc.isClosed());
  }

  /** Publishes awaiting an ack, plus those waiting for a slot. */
  get pending(): number {
    return this.inFlight + this.slots.waiters;
  }

  /** Publishes one message and resolves once JetStream has stored it. */
  async publish(message: OutgoingMessage): Promise<PublishAck> {
    if (!this.connected()) {
      throw new TidewayError(ErrorCode.PublishFailed, 'the event log (NATS) is not connected', { retryAfterSeconds: 1 });
    }
    await this.slots.take();
    this.inFlight++;
    try {
      const h = headers();
      h.set('Nats-Msg-Id', message.msgId);
      if (message.headers) for (const [k, v] of Object.entries(message.headers)) h.set(k, v);
      let reply;
      try {
        reply = await this.nc.request(message.subject, message.payload, { timeout: this.ackTimeoutMs, headers: h });
      } catch (cause) {
        throw new TidewayError(ErrorCode.PublishFailed, 'the event log did not acknowledge the event', { retryAfterSeconds: 1 }, { cause });
      }
      const ack = reply.json<RawPubAck>();
      if (ack.error || typeof ack.seq !== 'number' || typeof ack.stream !== 'string') {
        throw new TidewayError(ErrorCode.PublishFailed, `the event log refused the event: ${ack.error?.description ?? 'no sequence in ack'}`, {
          retryAfterSeconds: 1,
          natsCode: ack.error?.err_code,
        });
      }
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
    } finally {
      this.inFlight--;
      this.slots.give();
    }
  }

  /**
   * Publishes many messages with bounded concurrency and resolves with one outcome per message, in order.
   * Every message is attempted; the caller decides what a partial failure means.
   */
  async publishAll(messages: readonly OutgoingMessage[]): Promise<PromiseSettledResult<PublishAck>[]> {
    return Promise.allSettled(messages.map((m) => this.publish(m)));
  }
}
