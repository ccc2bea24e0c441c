import {
  dedupeId,
  ErrorCode,
  eventSubject,
  TenantSchema,
  TidewayError,
  toEnvelope,
  validateEventInput,
  type EventEnvelope,
  type FieldIssue,
  type SubjectScheme,
} from '@tideway/events';
import type { JetStreamPublisher, PublishAck } from '@tideway/nats';

export interface IngestLimits {
  readonly maxBatch: number;
  readonly maxEventBytes: number;
}

/** What happened to one event of a request. */
export interface EventOutcome {
  readonly index: number;
  readonly id: string;
  readonly source: string;
  /** `created`: stored now; `duplicate`: JetStream already held this (tenant, source, id). */
  readonly status: 'created' | 'duplicate';
  readonly stream: string;
  /** The stream sequence: pass it as `min_seq` to read your own write. */
  readonly seq: number;
}

export interface IngestResult {
  readonly accepted: number;
  readonly created: number;
  readonly duplicates: number;
  readonly results: readonly EventOutcome[];
}

const encoder = new TextEncoder();

/**
 * Turns a request's items into stored events. Batch semantics: all or nothing at validation — if any item is
 * invalid, none is published and every bad field of every item is reported. Publishing is per event: if the
 * log fails part-way, the request fails with 503 and the producer retries the whole batch; the events that
 * were stored are recognised as duplicates on the retry.
 */
export class EventIngestor {
  constructor(
    private readonly publisher: JetStreamPublisher,
    private readonly scheme: SubjectScheme,
    private readonly limits: IngestLimits,
  ) {}

  /** Validates and normalises every item, or throws with all issues. */
  prepare(items: readonly unknown[], defaultTenant: string, receivedAt: Date = new Date()): EventEnvelope[] {
    if (items.length === 0) throw new TidewayError(ErrorCode.EmptyBatch, 'the request holds no events');
    if (items.length > this.limits.maxBatch) {
      throw new TidewayError(ErrorCode.BatchTooLarge, `at most ${this.limits.maxBatch} events per request, got ${items.length}`);
    }
    const single = items.length === 1;
    const issues: FieldIssue[] = [];
    const envelopes: EventEnvelope[] = [];
    items.forEach((item, index) => {
      const checked = validateEventInput(item, single ? undefined : index);
      if (!checked.ok) {
        issues.push(...checked.issues);
        return;
      }
      const tenant = checked.value.tenant ?? defaultTenant;
      if (!TenantSchema.safeParse(tenant).success) {
        issues.push({ ...(single ? {} : { index }), pointer: single ? '/tenant' : `/${index}/tenant`, message: 'invalid tenant' });
        return;
      }
      const envelope = toEnvelope(checked.value, tenant, receivedAt);
      const size = encoder.encode(JSON.stringify(envelope)).byteLength;
      if (size > this.limits.maxEventBytes) {
        issues.push({ ...(single ? {} : { index }), pointer: single ? '' : `/${index}`, message: `event is ${size} bytes; the limit is ${this.limits.maxEventBytes}` });
        return;
      }
      envelopes.push(envelope);
    });
    if (issues.length > 0) {
      const bad = new Set(issues.map((i) => i.index ?? 0)).size;
      throw new TidewayError(ErrorCode.InvalidEvent, `${bad} of ${items.length} events are invalid; nothing was stored`, { issues });
    }
    return envelopes;
  }

  /** Publishes prepared envelopes and resolves once JetStream has acknowledged every one. */
  async publish(envelopes: readonly EventEnvelope[]): Promise<IngestResult> {
    const settled = await this.publisher.publishAll(
      envelopes.map((e) => ({
        subject: eventSubject(this.scheme, e.tenant, e.type, e.partitionkey),
        payload: encoder.encode(JSON.stringify(e)),
        msgId: dedupeId(e.tenant, e.source, e.id),
      })),
    );
    const failed = settled.findIndex((s) => s.status === 'rejected');
    if (failed >= 0) {
      const reason = (settled[failed] as PromiseRejectedResult).reason as unknown;
      const stored = settled.filter((s) => s.status === 'fulfilled').length;
      throw new TidewayError(
        ErrorCode.PublishFailed,
        `${settled.length - stored} of ${settled.length} events were not stored; retry the request (stored ones will be reported as duplicates)`,
        { retryAfterSeconds: 1, stored },
        { cause: reason },
      );
    }
    const results = settled.map((s, index) => {
      const ack = (s as PromiseFulfilledResult<PublishAck>).value;
      const e = envelopes[index]!;
      return { index, id: e.id, source: e.source, status: ack.duplicate ? 'duplicate' : 'created', stream: ack.stream, seq: ack.seq } as const;
    });
    const duplicates = results.filter((r) => r.status === 'duplicate').length;
    return { accepted: results.length, created: results.length - duplicates, duplicates, results };
  }
}
