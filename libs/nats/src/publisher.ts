import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
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

/**
 * A counting semaphore: bounds in-flight publishes so memory stays bounded under overload. Waiters queue in an
 * array read from a moving head (`Array.shift` is O(n) on long queues, and a bulk load can queue tens of
 * thousands of publishes behind a full window).
 */
class Slots {
  private free: number;
  private waiting: (() => void)[] = [];
  private head = 0;
  constructor(size: number) {
    this.free = size;
  }
  get waiters(): number {
    return this.waiting.length - this.head;
  }
  /** Resolves when a slot is taken; synchronous (no promise) when one is free. */
  take(): Promise<void> | undefined {
    if (this.free > 0) {
      this.free--;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    if (this.head < this.waiting.length) {
      const next = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined as unknown as () => void;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      next();
    } else {
      this.free++;
    }
  }
}

interface RawPubAck {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

/** A publish awaiting its PubAck. */
interface Waiter {
  readonly deadline: number;
  readonly resolve: (ack: PublishAck) => void;
  readonly reject: (error: unknown) => void;
}

const decoder = new TextDecoder();

/**
 * Publishes to JetStream as plain core messages to the stream's subject, each with a reply subject under one
 * inbox of this publisher, and matches the PubAck replies by that subject. This is the JetStream publish protocol
 * without the client library's per-request bookkeeping: `nc.request` allocates a timer and a deferred per request
 * and, on every resolved request, an Error with a stack trace (its cancel path) — together several times the cost
 * of the publish itself (see docs/benchmarks.md). Here one wildcard subscription receives every ack and one timer
 * expires the overdue ones. An ack means the message is stored (or was already, when `duplicate`).
 */
export class JetStreamPublisher {
  private readonly slots: Slots;
  private readonly ackTimeoutMs: number;
  private readonly connected: () => boolean;
  private inFlight = 0;
  /** Reply subject prefix; acks arrive on `<inbox>.<token>`. */
  private readonly inbox = createInbox();
  private subscription: Subscription | undefined;
  /** Publishes awaiting an ack by token, in publish order (deadlines ascend with it). */
  private readonly waiting = new Map<string, Waiter>();
  private nextToken = 0;
  private sweeper: NodeJS.Timeout | undefined;

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
    const wait = this.slots.take();
    if (wait) await wait;
    this.inFlight++;
    try {
      return await new Promise<PublishAck>((resolve, reject) => {
        const token = (this.nextToken++).toString(36);
        try {
          this.subscribe();
          const h = headers();
          h.set('Nats-Msg-Id', message.msgId);
          if (message.headers) for (const [k, v] of Object.entries(message.headers)) h.set(k, v);
          this.waiting.set(token, { deadline: performance.now() + this.ackTimeoutMs, resolve, reject });
          this.sweeper ??= setInterval(() => this.sweep(), Math.min(250, this.ackTimeoutMs)).unref();
          this.nc.publish(message.subject, message.payload, { reply: `${this.inbox}.${token}`, headers: h });
        } catch (cause) {
          this.waiting.delete(token);
          reject(new TidewayError(ErrorCode.PublishFailed, 'the event log did not acknowledge the event', { retryAfterSeconds: 1 }, { cause }));
        }
      });
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

  /** The ack subscription, (re)made on first use and after the connection closed it. */
  private subscribe(): void {
    if (this.subscription && !this.subscription.isClosed()) return;
    const sub = this.nc.subscribe(`${this.inbox}.*`, { callback: (error, msg) => (error ? undefined : this.onAck(msg)) });
    this.subscription = sub;
    void sub.closed.then(() => {
      // Acks can no longer arrive: fail what waits now rather than at its deadline.
      if (this.subscription === sub) this.subscription = undefined;
      this.failAll(new Error('the NATS connection closed before the ack arrived'));
    });
  }

  private onAck(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const waiter = this.waiting.get(token);
    if (!waiter) return; // timed out meanwhile
    this.waiting.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      waiter.reject(new TidewayError(ErrorCode.PublishFailed, 'the event log refused the event: no stream captures its subject', { retryAfterSeconds: 1 }));
      return;
    }
    let ack: RawPubAck;
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as RawPubAck;
    } catch (cause) {
      waiter.reject(new TidewayError(ErrorCode.PublishFailed, 'the event log answered with an unreadable ack', { retryAfterSeconds: 1 }, { cause }));
      return;
    }
    if (ack.error || typeof ack.seq !== 'number' || typeof ack.stream !== 'string') {
      waiter.reject(
        new TidewayError(ErrorCode.PublishFailed, `the event log refused the event: ${ack.error?.description ?? 'no sequence in ack'}`, {
          retryAfterSeconds: 1,
          natsCode: ack.error?.err_code,
        }),
      );
      return;
    }
    waiter.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true });
  }

  /** Fails the publishes whose ack is overdue (the map is in publish order, so the overdue ones come first). */
  private sweep(): void {
    const now = performance.now();
    for (const [token, waiter] of this.waiting) {
      if (waiter.deadline > now) break;
      this.waiting.delete(token);
      waiter.reject(new TidewayError(ErrorCode.PublishFailed, 'the event log did not acknowledge the event', { retryAfterSeconds: 1 }, { cause: new Error(`no ack within ${this.ackTimeoutMs} ms`) }));
    }
    if (this.waiting.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private failAll(cause: Error): void {
    for (const [token, waiter] of this.waiting) {
      this.waiting.delete(token);
      waiter.reject(new TidewayError(ErrorCode.PublishFailed, 'the event log did not acknowledge the event', { retryAfterSeconds: 1 }, { cause }));
    }
  }
}
