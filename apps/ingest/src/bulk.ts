import { ErrorCode, TidewayError, type FieldIssue } from '@tideway/events';
import type { PublishAck } from '@tideway/nats';
import type { ParsedItem } from '@tideway/producers';
import { IngestPipeline, type IngestContext, type StagedItem } from './pipeline.ts';

/** An item of a bulk request that was not stored on the event log. */
export interface BulkFailure {
  /** NDJSON line number or file row number (1-based). */
  readonly index: number;
  /** `quarantined`: stored in the quarantine; `failed`: not stored at all (too large, unreadable). */
  readonly status: 'quarantined' | 'failed';
  readonly quarantine_id?: string;
  readonly reason: string;
  readonly issues: readonly FieldIssue[];
}

/** The answer to a bulk request (NDJSON body, file upload). */
export interface BulkResult {
  /** Items read (lines or rows). */
  readonly items: number;
  readonly accepted: number;
  readonly created: number;
  readonly duplicates: number;
  readonly quarantined: number;
  readonly failed: number;
  /** Quarantined and failed items, at most `maxFailures` of them. */
  readonly failures: readonly BulkFailure[];
  readonly failures_truncated: boolean;
}

/**
 * Publishes a stream of items with a bounded number in flight, so a body of any length is ingested in constant
 * memory: `add` waits while the window is full. Only counts and the failures are kept, not per-item results.
 * After a publish fails, `add` throws 503 `publish-failed` naming the first item that may not be stored; the producer
 * resumes from there (what was stored already is de-duplicated).
 */
export class BulkIngest {
  private readonly inFlight = new Set<Promise<void>>();
  /** `add` calls waiting for a free slot in the window. */
  private readonly slotWaiters: (() => void)[] = [];
  private readonly pendingIndexes = new Set<number>();
  private readonly failures: BulkFailure[] = [];
  private truncated = false;
  private publishError: unknown;
  private firstUnstored = Number.POSITIVE_INFINITY;
  private counts = { items: 0, created: 0, duplicates: 0, quarantined: 0, failed: 0 };

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly ctx: IngestContext,
    private readonly window: number,
    private readonly maxFailures = 1000,
  ) {}

  /** Items read so far. */
  get items(): number {
    return this.counts.items;
  }

  private fail(failure: BulkFailure): void {
    if (failure.status === 'failed') this.counts.failed++;
    if (this.failures.length < this.maxFailures) this.failures.push(failure);
    else this.truncated = true;
  }

  /** Records an item that cannot be stored at all (unreadable, too long to keep). */
  skip(index: number, reason: string, issues: readonly FieldIssue[]): void {
    this.counts.items++;
    this.fail({ index, status: 'failed', reason, issues });
  }

  /** Stages and publishes one item, waiting while the window is full. */
  async add(item: ParsedItem): Promise<void> {
    this.throwIfFailed();
    this.counts.items++;
    const staged = this.pipeline.stage(item, this.ctx);
    if (staged.kind === 'too-large') {
      this.fail({
        index: staged.index,
        status: 'failed',
        reason: 'too-large',
        issues: [
          {
            index: staged.index,
            pointer: `/${staged.index}`,
            message: `the item is ${staged.bytes} bytes; the limit is ${this.pipeline.maxEventBytes}`,
          },
        ],
      });
      return;
    }
    // One waiter per freed slot: `Promise.race` over the whole window would register `window` reactions per item.
    while (this.inFlight.size >= this.window) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.throwIfFailed();
    this.pendingIndexes.add(staged.index);
    const task = this.publishOne(staged).finally(() => {
      this.inFlight.delete(task);
      this.pendingIndexes.delete(staged.index);
      this.slotWaiters.shift()?.();
    });
    this.inFlight.add(task);
  }

  private async publishOne(staged: Exclude<StagedItem, { kind: 'too-large' }>): Promise<void> {
    let ack: PublishAck;
    try {
      ack = await this.pipelinePublish(staged);
    } catch (error) {
      this.publishError ??= error;
      this.firstUnstored = Math.min(this.firstUnstored, staged.index);
      return;
    }
    const outcome = IngestPipeline.outcome(staged, ack);
    if (outcome.status === 'quarantined') {
      this.counts.quarantined++;
      this.fail({
        index: outcome.index,
        status: 'quarantined',
        quarantine_id: outcome.quarantine_id,
        reason: outcome.reason,
        issues: outcome.issues,
      });
    } else if (outcome.status === 'created') this.counts.created++;
    else this.counts.duplicates++;
  }

  private pipelinePublish(staged: Exclude<StagedItem, { kind: 'too-large' }>): Promise<PublishAck> {
    return this.pipeline.publishOne(staged.message);
  }

  private throwIfFailed(): void {
    if (this.publishError === undefined) return;
    const first = Math.min(this.firstUnstored, ...this.pendingIndexes);
    throw new TidewayError(
      ErrorCode.PublishFailed,
      `the event log stopped acknowledging at item ${first}; items before it are stored — resend from item ${first} (stored items are recognised as duplicates)`,
      { retryAfterSeconds: 1, first_unstored: first, ...this.snapshot() },
      { cause: this.publishError },
    );
  }

  private snapshot(): Omit<BulkResult, 'failures' | 'failures_truncated'> {
    return { ...this.counts, accepted: this.counts.created + this.counts.duplicates };
  }

  /** Waits for every publish in flight; throws 503 if any failed. */
  async finish(): Promise<BulkResult> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.throwIfFailed();
    return { ...this.snapshot(), failures: this.failures, failures_truncated: this.truncated };
  }

  /** Waits for publishes in flight without reporting (the request failed for another reason). */
  async settle(): Promise<Omit<BulkResult, 'failures' | 'failures_truncated'> & { first_unstored?: number }> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    return { ...this.snapshot(), ...(this.publishError === undefined ? {} : { first_unstored: this.firstUnstored }) };
  }
}
