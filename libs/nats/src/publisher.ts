import { createInbox, MsgHdrsImpl, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ErrorCode, TidewayError } from '@tideway/events';
import { parsePubAck, type RawPubAck } from './pub-ack.ts';

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

/**
 * The outcome of each message of one `publishMany` call, filled in as the acks arrive. One of these per call
 * (not a promise per message) is what a request of 100 events costs: the caller awaits one promise.
 */
class PendingBatch {
  readonly outcomes: (PublishAck | TidewayError)[];
  private remaining: number;
  constructor(
    size: number,
    private readonly done: (outcomes: (PublishAck | TidewayError)[]) => void,
  ) {
    this.outcomes = new Array<PublishAck | TidewayError>(size);
    this.remaining = size;
    if (size === 0) done(this.outcomes);
  }
  settle(index: number, outcome: PublishAck | TidewayError): void {
    this.outcomes[index] = outcome;
    if (--this.remaining === 0) this.done(this.outcomes);
  }
}

/** A publish awaiting its PubAck: the batch and position its outcome goes to. */
interface Waiter {
  readonly deadline: number;
  readonly batch: PendingBatch;
  readonly index: number;
}

/**
 * Headers whose wire form the publisher built (see `headerText`), for the `nc.publish` path: `nc.publish` only
 * calls `encode()` on the headers it is given (nats.js 3.x `ProtocolHandler.publish`). Only ever passed there; its
 * (empty) map is not meant to be read.
 */
class EncodedHeaders extends MsgHdrsImpl {
  constructor(private readonly bytes: Uint8Array) {
    super();
  }
  override encode(): Uint8Array {
    return this.bytes;
  }
}

/**
 * The part of nats.js's connection internals the publisher writes frames through: `nc.protocol` of
 * `NatsConnectionImpl` (nats.js 3.x), whose `sendCommand` appends bytes to the outbound buffer that is flushed
 * once per tick — the same buffer `nc.publish` fills, kept across reconnects like it. Feature-detected: without
 * it the publisher uses `nc.publish`.
 */
interface ProtocolWriter {
  sendCommand(cmd: Uint8Array, ...payloads: Uint8Array[]): void;
  outMsgs: number;
  outBytes: number;
}

function protocolWriter(nc: NatsConnection): ProtocolWriter | undefined {
  const protocol = (nc as { protocol?: Partial<ProtocolWriter> }).protocol;
  return typeof protocol?.sendCommand === 'function' ? (protocol as ProtocolWriter) : undefined;
}

const CRLF_BYTES = Buffer.from('\r\n');
/** Subjects nats.js refuses to publish to (`_check`: empty, or with whitespace). */
const BAD_SUBJECT = /^$|[ \n\r\t]/;
const CR_LF = /[\r\n]/;

function disconnected(): TidewayError {
  return new TidewayError(ErrorCode.PublishFailed, 'the event log (NATS) is not connected', { retryAfterSeconds: 1 });
}

/** Why a publish failed, as the TidewayError every caller sees (503 `publish-failed` with `Retry-After`). */
function notAcknowledged(cause: unknown): TidewayError {
  return new TidewayError(ErrorCode.PublishFailed, 'the event log did not acknowledge the event', { retryAfterSeconds: 1 }, { cause });
}

/**
 * Publishes to JetStream as plain core messages to the stream's subject, each with a reply subject under one
 * inbox of this publisher, and matches the PubAck replies by that subject. This is the JetStream publish protocol
 * without the client library's per-request bookkeeping: `nc.request` allocates a timer and a deferred per request
 * and, on every resolved request, an Error with a stack trace (its cancel path) — together several times the cost
 * of the publish itself (see docs/benchmarks.md). Here one wildcard subscription receives every ack and one timer
 * expires the overdue ones; messages leave as ready-made frames (see `sendOne`), and `publishMany` settles a whole
 * request's messages behind one promise. An ack means the message is stored (or was already, when `duplicate`).
 */
export class JetStreamPublisher {
  private readonly slots: Slots;
  private readonly ackTimeoutMs: number;
  private readonly connected: () => boolean;
  private inFlight = 0;
  /** Messages handed to `publishMany`/`publish` that wait for an in-flight slot. */
  private queued = 0;
  /** Reply subject prefix; acks arrive on `<inbox>.<token>`. */
  private readonly inbox = createInbox();
  private subscription: Subscription | undefined;
  /** Publishes awaiting an ack by token, in publish order (deadlines ascend with it). */
  private readonly waiting = new Map<string, Waiter>();
  private nextToken = 0;
  private sweeper: NodeJS.Timeout | undefined;
  /** How messages are written (see `sendOne`); `undefined`: through `nc.publish`. */
  private readonly writer: ProtocolWriter | undefined;

  constructor(
    private readonly nc: NatsConnection,
    options: JetStreamPublisherOptions = {},
  ) {
    this.slots = new Slots(options.maxInFlight ?? 2048);
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.connected = options.connected ?? (() => !nc.isClosed());
    this.writer = protocolWriter(nc);
  }

  /** Publishes awaiting an ack, plus those waiting for a slot. */
  get pending(): number {
    return this.inFlight + this.queued;
  }

  /** Publishes one message and resolves once JetStream has stored it. @throws TidewayError `publish-failed`. */
  async publish(message: OutgoingMessage): Promise<PublishAck> {
    if (!this.connected()) throw disconnected();
    const [outcome] = await this.send([message]);
    if (outcome instanceof TidewayError) throw outcome;
    return outcome!;
  }

  /**
   * Publishes many messages and resolves once every one is settled, with one outcome per message, in order: its
   * ack, or the `publish-failed` error that failed it. Never rejects; the caller decides what a partial failure
   * means. The messages that find a free in-flight slot are written at once (a request's batch leaves in one
   * socket write), the rest as slots free up, in order; the caller awaits one promise, not one per message. When
   * the connection is down every message fails at once.
   */
  publishMany(messages: readonly OutgoingMessage[]): Promise<(PublishAck | TidewayError)[]> {
    if (!this.connected()) {
      const down = disconnected();
      return Promise.resolve(messages.map(() => down));
    }
    return this.send(messages);
  }

  /**
   * Publishes many messages with bounded concurrency and resolves with one outcome per message, in order.
   * Every message is attempted; the caller decides what a partial failure means.
   */
  async publishAll(messages: readonly OutgoingMessage[]): Promise<PromiseSettledResult<PublishAck>[]> {
    const outcomes = await this.publishMany(messages);
    return outcomes.map((o): PromiseSettledResult<PublishAck> =>
      o instanceof TidewayError ? { status: 'rejected', reason: o } : { status: 'fulfilled', value: o },
    );
  }

  private send(messages: readonly OutgoingMessage[]): Promise<(PublishAck | TidewayError)[]> {
    this.queued += messages.length;
    return new Promise((resolve) => this.sendFrom(messages, new PendingBatch(messages.length, resolve), 0));
  }

  /** Sends `messages[from…]` while slots are free; waits for a slot (in line) and goes on when one is not. */
  private sendFrom(messages: readonly OutgoingMessage[], batch: PendingBatch, from: number): void {
    const deadline = performance.now() + this.ackTimeoutMs;
    for (let i = from; i < messages.length; i++) {
      const wait = this.slots.take();
      if (wait) {
        void wait.then(() => {
          // `give` handed this slot over for message i; the loop takes slots for the ones after it.
          this.sendOne(messages[i]!, batch, i, performance.now() + this.ackTimeoutMs);
          this.sendFrom(messages, batch, i + 1);
        });
        return;
      }
      this.sendOne(messages[i]!, batch, i, deadline);
    }
  }

  /**
   * Writes one message, its slot taken. Its outcome arrives through `onAck`, `sweep` or `failAll`.
   *
   * The message goes out as one ready-made `HPUB` frame head (`HPUB <subject> <reply> <hlen> <len>` and the
   * headers, one pooled `Buffer.from`) plus the payload, through the connection's protocol writer, with the checks
   * `nc.publish` makes (connection closed or draining, subject, server's `max_payload`). `nc.publish` would build
   * a `headers()` object, encode the protocol line and the headers with `TextEncoder.encode` (a fresh ArrayBuffer
   * each: slow for short strings in Node 20, and garbage-collector work) and validate the subjects with regular
   * expressions — together more than the rest of ingesting an event (measured: 18 vs 10 µs of client CPU per
   * message under load, in batches of 100). Without a protocol writer it falls back to `nc.publish`.
   */
  private sendOne(message: OutgoingMessage, batch: PendingBatch, index: number, deadline: number): void {
    this.queued--;
    this.inFlight++;
    const token = (this.nextToken++).toString(36);
    const waiter: Waiter = { deadline, batch, index };
    try {
      this.subscribe();
      const reply = `${this.inbox}.${token}`;
      const head = headerText(message);
      const writer = this.writer;
      if (writer === undefined) {
        this.waiting.set(token, waiter);
        this.nc.publish(message.subject, message.payload, { reply, headers: new EncodedHeaders(Buffer.from(head, 'utf8')) });
      } else {
        if (this.nc.isClosed() || this.nc.isDraining()) throw new Error('the NATS connection is closed or draining');
        if (BAD_SUBJECT.test(message.subject)) throw new Error(`invalid subject "${message.subject}"`);
        const headerBytes = Buffer.byteLength(head, 'utf8');
        const size = headerBytes + message.payload.length;
        const maxPayload = this.nc.info?.max_payload;
        if (maxPayload !== undefined && size > maxPayload) throw new Error(`the message is ${size} bytes; the server's max_payload is ${maxPayload}`);
        this.waiting.set(token, waiter);
        writer.sendCommand(Buffer.from(`HPUB ${message.subject} ${reply} ${headerBytes} ${size}\r\n${head}`, 'utf8'), message.payload, CRLF_BYTES);
        writer.outMsgs++;
        writer.outBytes += size;
      }
      this.sweeper ??= setInterval(() => this.sweep(), Math.min(250, this.ackTimeoutMs)).unref();
    } catch (cause) {
      // Nothing was sent (an ack cannot have arrived yet): fail this message now.
      this.waiting.delete(token);
      this.settle(waiter, notAcknowledged(cause));
    }
  }

  /** Records one message's outcome and frees its slot. */
  private settle(waiter: Waiter, outcome: PublishAck | TidewayError): void {
    this.inFlight--;
    this.slots.give();
    waiter.batch.settle(waiter.index, outcome);
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
    this.settle(waiter, readAck(msg));
  }

  /** Fails the publishes whose ack is overdue (the map is in publish order, so the overdue ones come first). */
  private sweep(): void {
    const now = performance.now();
    for (const [token, waiter] of this.waiting) {
      if (waiter.deadline > now) break;
      this.waiting.delete(token);
      this.settle(waiter, notAcknowledged(new Error(`no ack within ${this.ackTimeoutMs} ms`)));
    }
    if (this.waiting.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private failAll(cause: Error): void {
    for (const [token, waiter] of this.waiting) {
      this.waiting.delete(token);
      this.settle(waiter, notAcknowledged(cause));
    }
  }
}

/** Header names already checked (a handful of distinct names recur on every message). */
const checkedNames = new Set<string>(['Nats-Msg-Id']);

/** The check nats.js's `headers().set` makes of a name: printable ASCII (33–126) without `:`. */
function checkName(name: string): void {
  if (checkedNames.has(name)) return;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 58 || c < 33 || c > 126) throw new Error(`'${name[i]}' is not a valid character in a header name`);
  }
  if (checkedNames.size < 256) checkedNames.add(name);
}

/** The check `headers().set` makes of a value (no CR or LF), and its trimming. */
function checkedValue(value: string): string {
  if (CR_LF.test(value)) throw new Error('header values cannot contain \r or \n');
  return value.trim();
}

/**
 * The NATS headers of a message in their wire form — `Nats-Msg-Id`, then the message's own headers (one of them
 * named exactly `Nats-Msg-Id` replaces it, as `headers().set` would) — with the checks `headers().set` makes.
 */
function headerText(message: OutgoingMessage): string {
  let text = 'NATS/1.0\r\n';
  const own = message.headers;
  if (own === undefined || own['Nats-Msg-Id'] === undefined) text += `Nats-Msg-Id: ${checkedValue(message.msgId)}\r\n`;
  if (own !== undefined) {
    for (const name in own) {
      checkName(name);
      text += `${name}: ${checkedValue(own[name]!)}\r\n`;
    }
  }
  return `${text}\r\n`;
}

/** A PubAck (or the server's refusal) as an outcome. */
function readAck(msg: Msg): PublishAck | TidewayError {
  if (msg.data.length === 0 && msg.headers?.code === 503) {
    return new TidewayError(ErrorCode.PublishFailed, 'the event log refused the event: no stream captures its subject', { retryAfterSeconds: 1 });
  }
  let ack: RawPubAck;
  try {
    ack = parsePubAck(msg.data);
  } catch (cause) {
    return new TidewayError(ErrorCode.PublishFailed, 'the event log answered with an unreadable ack', { retryAfterSeconds: 1 }, { cause });
  }
  if (ack.error || typeof ack.seq !== 'number' || typeof ack.stream !== 'string') {
    return new TidewayError(ErrorCode.PublishFailed, `the event log refused the event: ${ack.error?.description ?? 'no sequence in ack'}`, {
      retryAfterSeconds: 1,
      natsCode: ack.error?.err_code,
    });
  }
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true };
}
