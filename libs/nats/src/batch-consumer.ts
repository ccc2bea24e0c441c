import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';

export interface BatchConsumerOptions {
  /** Flush when this many messages are buffered. */
  readonly maxBatch: number;
  /** Flush a partial batch this long after its first message arrived. */
  readonly maxWaitMs: number;
  /**
   * How to acknowledge a committed batch. `last` acks only the batch's last message: with a consumer whose
   * `ack_policy` is `all` this acknowledges the whole batch in one message.
   */
  readonly ack: 'last' | 'each';
  /** Called after a handler failure, before the batch is retried. */
  readonly onError?: (error: unknown, attempt: number) => void;
}

/** A batch handler. It must be atomic: when it resolves, the batch's effects are committed. */
export type BatchHandler = (messages: readonly JsMsg[]) => Promise<void>;

/**
 * Runs a JetStream pull consumer as a sequence of batches: messages are buffered until `maxBatch` or
 * `maxWaitMs`, handed to `handler` one batch at a time (never concurrently), and acknowledged only after the
 * handler resolved. A failing batch is retried with back-off until it succeeds or the consumer is stopped,
 * so the consumer never skips ahead of its store. Memory is bounded by the consumer's `max_ack_pending`.
 */
export class BatchConsumer {
  private messages: ConsumerMessages | undefined;
  private buffer: JsMsg[] = [];
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private highestSeq = 0;
  private loop: Promise<void> | undefined;
  /** Batches committed since start. */
  batches = 0;
  /** Messages committed since start. */
  processed = 0;

  constructor(
    private readonly consumer: Consumer,
    private readonly handler: BatchHandler,
    private readonly options: BatchConsumerOptions,
  ) {}

  async start(): Promise<void> {
    this.messages = await this.consumer.consume({
      max_messages: Math.max(this.options.maxBatch * 2, 256),
      callback: (msg) => this.onMessage(msg),
    });
    this.loop = this.run();
  }

  private onMessage(msg: JsMsg): void {
    // A redelivery of a message this process already holds (ack_wait ran out while a batch was slow or
    // retrying): the original is buffered or being committed, and acking a later one covers it.
    if (msg.seq <= this.highestSeq) return;
    this.highestSeq = msg.seq;
    this.buffer.push(msg);
    if (this.buffer.length >= this.options.maxBatch) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.options.maxWaitMs);
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopping || this.buffer.length > 0) {
      if (this.buffer.length === 0 || (this.buffer.length < this.options.maxBatch && this.timer && !this.stopping)) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const batch = this.buffer.splice(0, this.options.maxBatch);
      if (this.buffer.length > 0 && !this.timer) this.timer = setTimeout(() => this.kick(), this.options.maxWaitMs);
      await this.commit(batch);
    }
  }

  private async commit(batch: JsMsg[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handler(batch);
        break;
      } catch (error) {
        this.options.onError?.(error, attempt);
        if (this.stopping) return; // unacked: redelivered to the next consumer
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5_000)));
      }
    }
    if (this.options.ack === 'last') batch.at(-1)?.ack();
    else for (const m of batch) m.ack();
    this.batches++;
    this.processed += batch.length;
  }

  /** Stops pulling, commits what is buffered, and resolves when the last batch is acknowledged. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.close();
    this.kick();
    await this.loop;
  }
}
