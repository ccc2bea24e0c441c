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
  /**
   * Batches handed to the handler before the previous ones resolved (default 1: one at a time). Only for a
   * handler that commits batches in the order it was given them — a later batch never commits unless every earlier
   * one did (the warm projection conditions each commit on its predecessor's checkpoint) — because acknowledgement
   * stays in order: after a failure the failed batch and every batch after it are retried one at a time.
   */
  readonly concurrency?: number;
}

interface InFlight {
  readonly batch: JsMsg[];
  readonly done: Promise<void>;
  settled: boolean;
  error?: { readonly cause: unknown };
}

/** A batch handler. It must be atomic: when it resolves, the batch's effects are committed. */
export type BatchHandler = (messages: readonly JsMsg[]) => Promise<void>;

/**
 * Runs a JetStream pull consumer as a sequence of batches: messages are buffered until `maxBatch` or
 * `maxWaitMs`, handed to `handler` one batch at a time (or up to `concurrency` at a time, for a handler that
 * commits in order), and acknowledged in order, each only after the handler resolved. A failing batch is retried with back-off until it succeeds or the consumer is stopped,
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
      // enough pulled to fill the next batch while the current ones commit
      max_messages: Math.max(this.options.maxBatch * (this.concurrency + 1), 256),
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

  /** A batch is due (full, or its wait ran out): clears the wait timer and wakes the loop. */
  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private get concurrency(): number {
    return Math.max(1, this.options.concurrency ?? 1);
  }

  private async run(): Promise<void> {
    const window: InFlight[] = [];
    for (;;) {
      // Acknowledge committed batches at the head of the window, in order.
      while (window[0]?.settled && !window[0].error) this.acknowledge(window.shift()!.batch);
      if (window[0]?.error) {
        // The head failed, so nothing after it can have committed: let the rest settle, then retry the failed
        // batch and every later one by one (with back-off), as the consumer without concurrency does.
        const failed = window.splice(0);
        await Promise.all(failed.map((f) => f.done));
        this.options.onError?.(failed[0]!.error!.cause, 1);
        if (this.stopping) return; // unacked: redelivered to the next consumer
        for (const [i, f] of failed.entries()) {
          if (!(await this.commit(f.batch, i === 0 ? 2 : 1))) return; // stopping: unacked, redelivered later
        }
        continue;
      }
      const ready = this.buffer.length >= this.options.maxBatch || (this.buffer.length > 0 && (!this.timer || this.stopping));
      if (ready && window.length < this.concurrency) {
        const batch = this.buffer.splice(0, this.options.maxBatch);
        if (this.buffer.length > 0 && !this.timer) this.timer = setTimeout(() => this.kick(), this.options.maxWaitMs);
        if (this.concurrency === 1 && window.length === 0) {
          if (!(await this.commit(batch, 1))) return;
          continue;
        }
        const entry: InFlight = { batch, settled: false, done: Promise.resolve() };
        (entry as { done: Promise<void> }).done = this.handler(batch).then(
          () => void (entry.settled = true),
          (cause: unknown) => void Object.assign(entry, { settled: true, error: { cause } }),
        ).finally(() => this.wakeUp());
        window.push(entry);
        continue;
      }
      if (this.stopping && this.buffer.length === 0 && window.length === 0) return;
      // Wait for a message, the batch timer or a settled batch.
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Runs the handler until it succeeds (true) or the consumer is stopping (false), then acknowledges. */
  private async commit(batch: JsMsg[], firstAttempt: number): Promise<boolean> {
    for (let attempt = firstAttempt; ; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** (attempt - 1), 5_000)));
      try {
        await this.handler(batch);
        break;
      } catch (error) {
        this.options.onError?.(error, attempt);
        if (this.stopping) return false; // unacked: redelivered to the next consumer
      }
    }
    this.acknowledge(batch);
    return true;
  }

  private acknowledge(batch: JsMsg[]): void {
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
