import { jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AlertRaisedSchema, EventEnvelopeSchema } from '@tideway/events';

/** What became of one alert. */
export type NotifyOutcome = 'sent' | 'rejected' | 'deferred' | 'invalid';

export interface AlertNotifierOptions {
  readonly nc: NatsConnection;
  /** The DERIVED stream's name. */
  readonly stream: string;
  /** Durable consumer of alert events (`streams/DERIVED.alert-notifier.consumer.json`). */
  readonly consumer: string;
  /** Slack-compatible incoming-webhook URL. */
  readonly url: string;
  /** Retries after the first attempt. */
  readonly retries: number;
  readonly timeoutMs: number;
  /** First back-off delay; doubles per retry, at most 30 s. */
  readonly backoffMs: number;
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Called once per alert with its outcome, and per retried attempt with `retry`. */
  readonly onOutcome?: (outcome: NotifyOutcome | 'retry') => void;
}

/** How long JetStream waits before redelivering an alert whose post failed every retry. */
const REDELIVER_AFTER_MS = 30_000;

function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * Posts `tideway.alert.raised` events to a Slack-compatible webhook as `{"text": "…"}`, one at a time, in stream
 * order. Retries with exponential back-off on network errors, timeouts, 408/425/429 (honouring `Retry-After`)
 * and 5xx; an alert that still fails goes back to JetStream (nak with delay) and is retried later, up to the
 * consumer's `max_deliver`. A 4xx other than those is permanent and logged. Delivery is at-least-once: the
 * request carries the alert's id in `Idempotency-Key` for receivers that de-duplicate.
 */
export class AlertNotifier {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: AlertNotifierOptions) {}

  async start(): Promise<void> {
    const consumer = await jetstream(this.options.nc).consumers.get(this.options.stream, this.options.consumer);
    this.messages = await consumer.consume({ max_messages: 16 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const msg of messages) {
        if (this.stopping) {
          msg.nak();
          continue;
        }
        await this.handle(msg);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.messages?.close();
    await this.loop;
  }

  private async handle(msg: JsMsg): Promise<void> {
    const { log } = this.options;
    let text: string;
    let id: string;
    try {
      const envelope = EventEnvelopeSchema.parse(msg.json());
      const data = AlertRaisedSchema.parse(envelope.data);
      id = envelope.id;
      text = `:rotating_light: ${data.summary}`;
    } catch (error) {
      log.warn({ err: error, seq: msg.seq, subject: msg.subject }, 'not an alert event; skipped');
      this.options.onOutcome?.('invalid');
      msg.term();
      return;
    }
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      if (attempt > 0) this.options.onOutcome?.('retry');
      let status: number | undefined;
      let retryAfterMs: number | undefined;
      try {
        const response = await fetch(this.options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': id },
          body: JSON.stringify({ text }),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        status = response.status;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter > 0) retryAfterMs = retryAfter * 1000;
        await response.body?.cancel();
      } catch (error) {
        log.warn({ err: error, alert: id, attempt }, 'webhook unreachable');
      }
      if (status !== undefined && status >= 200 && status < 300) {
        msg.ack();
        this.options.onOutcome?.('sent');
        return;
      }
      if (status !== undefined && !retryable(status)) {
        log.error({ alert: id, status }, 'webhook refused the alert; not retrying');
        msg.term();
        this.options.onOutcome?.('rejected');
        return;
      }
      if (this.stopping || attempt === this.options.retries) break;
      await this.sleep(retryAfterMs ?? Math.min(this.options.backoffMs * 2 ** attempt, 30_000));
      msg.working();
    }
    log.error({ alert: id, retries: this.options.retries }, 'webhook failed every attempt; JetStream redelivers the alert later');
    msg.nak(REDELIVER_AFTER_MS);
    this.options.onOutcome?.('deferred');
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }
}
