import {
  dedupeId,
  ErrorCode,
  EventInputSchema,
  eventSubject,
  fieldIssues,
  TidewayError,
  toEnvelope,
  type EventEnvelope,
  type FieldIssue,
  type SubjectScheme,
} from '@tideway/events';
import type { Principal } from '@tideway/auth';
import type { JetStreamPublisher, OutgoingMessage, PublishAck } from '@tideway/nats';
import type { EventValidator, ParsedItem } from '@tideway/producers';
import type { SchemaRegistry } from '@tideway/schemas';
import type { Channel, QuarantineStore } from './quarantine.ts';

/**
 * The gateway's validator: the envelope schema, then the payload against the type's registered schema (the latest
 * version, or the one `dataschema` pins). Reports the version checked and whether the envelope or the payload failed.
 */
export function registryValidator(registry: SchemaRegistry): EventValidator {
  return (candidate, index) => {
    const parsed = EventInputSchema.safeParse(candidate);
    if (!parsed.success) return { ok: false, issues: fieldIssues(parsed.error, index), reason: 'envelope' };
    const checked = registry.validate(parsed.data.type, parsed.data.data, {
      dataschema: parsed.data.dataschema,
      index,
    });
    if (!checked.ok) {
      return checked.version === undefined
        ? { ok: false, issues: checked.issues, reason: 'schema' }
        : { ok: false, issues: checked.issues, reason: 'schema', schemaVersion: checked.version };
    }
    return checked.version === undefined ? { ok: true, value: parsed.data } : { ok: true, value: parsed.data, schemaVersion: checked.version };
  };
}

/** Who sent a request, when, and through which door. */
export interface IngestContext {
  readonly principal: Principal;
  readonly channel: Channel;
  readonly receivedAt: Date;
  /** The request's headers, credentials removed (kept with quarantined items). */
  readonly headers: Readonly<Record<string, string>>;
  /** NATS headers added to every event message (e.g. `Tw-Corrects` on a resubmitted correction). */
  readonly eventHeaders?: Readonly<Record<string, string>>;
}

/** What happened to one item. */
export type ItemOutcome =
  | {
      readonly index: number;
      /** `created`: stored now; `duplicate`: JetStream already held this (tenant, source, id). */
      readonly status: 'created' | 'duplicate';
      readonly id: string;
      readonly source: string;
      readonly stream: string;
      /** The stream sequence: pass it as `min_seq` to read your own write. */
      readonly seq: number;
    }
  | {
      readonly index: number;
      readonly status: 'quarantined';
      /** Id of the quarantined item (`GET /v1/quarantine/{id}`). */
      readonly quarantine_id: string;
      readonly reason: string;
      readonly issues: readonly FieldIssue[];
    };

/** The answer to an ingest request. */
export interface IngestResult {
  /** Events stored on the event log (new or duplicate). */
  readonly accepted: number;
  readonly created: number;
  readonly duplicates: number;
  /** Items that failed validation and were stored in the quarantine instead. */
  readonly quarantined: number;
  readonly results: readonly ItemOutcome[];
}

/** One item turned into the message that stores it. */
export type StagedItem =
  | {
      readonly kind: 'event';
      readonly index: number;
      readonly envelope: EventEnvelope;
      readonly message: OutgoingMessage;
    }
  | {
      readonly kind: 'quarantine';
      readonly index: number;
      readonly reason: string;
      readonly issues: readonly FieldIssue[];
      readonly message: OutgoingMessage;
    }
  | { readonly kind: 'too-large'; readonly index: number; readonly bytes: number };

export interface PipelineLimits {
  /** Largest event (or quarantined item), serialised. */
  readonly maxEventBytes: number;
}

const encoder = new TextEncoder();

/**
 * Turns parsed items into stored records: valid events onto the EVENTS stream, invalid items into the quarantine.
 * Nothing is answered as stored before JetStream acknowledged it.
 */
export class IngestPipeline {
  constructor(
    private readonly publisher: JetStreamPublisher,
    private readonly scheme: SubjectScheme,
    private readonly quarantine: QuarantineStore,
    private readonly limits: PipelineLimits,
  ) {}

  /** Largest event (or quarantined item) in bytes. */
  get maxEventBytes(): number {
    return this.limits.maxEventBytes;
  }

  /** Publishes one staged message and resolves with JetStream's ack. */
  publishOne(message: OutgoingMessage): Promise<PublishAck> {
    return this.publisher.publish(message);
  }

  /**
   * The message for one item. A key only writes into its own tenant: an event naming another tenant fails the whole
   * request with 403 `tenant-mismatch` (anonymous callers, with authentication off, may name any tenant).
   */
  stage(item: ParsedItem, ctx: IngestContext): StagedItem {
    const { principal } = ctx;
    if (!item.ok) {
      const { message } = this.quarantine.message(item.original, {
        tenant: principal.tenant,
        reason: item.reason,
        channel: ctx.channel,
        received_at: ctx.receivedAt.toISOString(),
        key_id: principal.keyId,
        index: item.index,
        issues: item.issues,
        request_headers: ctx.headers,
        ...(item.schemaVersion === undefined ? {} : { schemaVersion: item.schemaVersion }),
      });
      const size =
        typeof item.original.payload === 'string'
          ? encoder.encode(item.original.payload).byteLength
          : item.original.payload.byteLength;
      if (size > this.limits.maxEventBytes) return { kind: 'too-large', index: item.index, bytes: size };
      return { kind: 'quarantine', index: item.index, reason: item.reason, issues: item.issues, message };
    }
    const event = item.event;
    if (!principal.anonymous && event.tenant !== undefined && event.tenant !== principal.tenant) {
      throw new TidewayError(
        ErrorCode.TenantMismatch,
        `item ${item.index} names tenant "${event.tenant}", but this key belongs to tenant "${principal.tenant}"; nothing was stored`,
        { issues: [{ index: item.index, pointer: `/${item.index}/tenant`, message: "not the key's tenant" }] },
      );
    }
    const tenant = principal.anonymous ? (event.tenant ?? principal.tenant) : principal.tenant;
    const envelope = toEnvelope(event, tenant, ctx.receivedAt);
    // Serialised once: the size check is on the bytes published. Buffer.from encodes short strings faster than
    // TextEncoder.encode in Node 20.
    const payload = Buffer.from(JSON.stringify(envelope));
    if (payload.byteLength > this.limits.maxEventBytes)
      return { kind: 'too-large', index: item.index, bytes: payload.byteLength };
    const message: { -readonly [K in keyof OutgoingMessage]: OutgoingMessage[K] } = {
      subject: eventSubject(this.scheme, envelope.tenant, envelope.type, envelope.partitionkey),
      payload,
      msgId: dedupeId(envelope.tenant, envelope.source, envelope.id),
    };
    if (ctx.eventHeaders !== undefined || item.schemaVersion !== undefined) {
      const headers: Record<string, string> = { ...ctx.eventHeaders };
      if (item.schemaVersion !== undefined) headers['Tw-Schema-Version'] = String(item.schemaVersion);
      message.headers = headers;
    }
    return { kind: 'event', index: item.index, envelope, message };
  }

  /**
   * Stages every item of a request, refusing the whole request when one item is over the size limit (413
   * `event-too-large`, nothing stored).
   */
  stageAll(items: readonly ParsedItem[], ctx: IngestContext): Exclude<StagedItem, { kind: 'too-large' }>[] {
    const staged = items.map((item) => this.stage(item, ctx));
    const tooLarge = staged.filter((s): s is Extract<StagedItem, { kind: 'too-large' }> => s.kind === 'too-large');
    if (tooLarge.length > 0) {
      throw new TidewayError(
        ErrorCode.EventTooLarge,
        `${tooLarge.length} of ${items.length} items are over the ${this.limits.maxEventBytes}-byte event limit; nothing was stored`,
        {
          maxEventBytes: this.limits.maxEventBytes,
          issues: tooLarge.map((t) => ({
            index: t.index,
            pointer: `/${t.index}`,
            message: `the item is ${t.bytes} bytes; the limit is ${this.limits.maxEventBytes}`,
          })),
        },
      );
    }
    return staged as Exclude<StagedItem, { kind: 'too-large' }>[];
  }

  /** The outcome of one staged item once its publish was acknowledged. */
  static outcome(item: Exclude<StagedItem, { kind: 'too-large' }>, ack: PublishAck): ItemOutcome {
    if (item.kind === 'quarantine') {
      return {
        index: item.index,
        status: 'quarantined',
        quarantine_id: String(ack.seq),
        reason: item.reason,
        issues: item.issues,
      };
    }
    return {
      index: item.index,
      status: ack.duplicate ? 'duplicate' : 'created',
      id: item.envelope.id,
      source: item.envelope.source,
      stream: ack.stream,
      seq: ack.seq,
    };
  }

  /**
   * Publishes staged items and resolves once JetStream acknowledged every one. If any publish fails the request fails
   * with 503 `publish-failed`: the producer retries it whole, and what was stored is recognised as duplicates.
   */
  async publish(staged: readonly Exclude<StagedItem, { kind: 'too-large' }>[]): Promise<IngestResult> {
    // One promise for the request (not one per item): the publisher settles every message, then resolves.
    const outcomes = await this.publisher.publishMany(staged.map((s) => s.message));
    let stored = 0;
    let failure: TidewayError | undefined;
    for (const outcome of outcomes) {
      if (outcome instanceof TidewayError) failure ??= outcome;
      else stored++;
    }
    if (failure !== undefined) {
      throw new TidewayError(
        ErrorCode.PublishFailed,
        `${outcomes.length - stored} of ${outcomes.length} items were not stored; retry the request (stored ones will be reported as duplicates)`,
        { retryAfterSeconds: 1, stored },
        { cause: failure },
      );
    }
    const results = staged.map((s, i) => IngestPipeline.outcome(s, outcomes[i] as PublishAck));
    return summarize(results);
  }

  /** Stages and publishes the items of one request. */
  async ingest(items: readonly ParsedItem[], ctx: IngestContext): Promise<IngestResult> {
    return this.publish(this.stageAll(items, ctx));
  }
}

/** Counts the outcomes of a request. */
export function summarize(results: readonly ItemOutcome[]): IngestResult {
  let created = 0;
  let duplicates = 0;
  let quarantined = 0;
  for (const r of results) {
    if (r.status === 'created') created++;
    else if (r.status === 'duplicate') duplicates++;
    else quarantined++;
  }
  return { accepted: created + duplicates, created, duplicates, quarantined, results };
}

/**
 * The HTTP answer rule shared by every producer endpoint: 202 when at least one event reached the event log (the
 * others, if any, are reported as quarantined); 422 `events-quarantined` when every item was quarantined.
 */
export function refuseIfNothingAccepted(result: IngestResult): void {
  if (result.accepted > 0 || result.quarantined === 0) return;
  const issues = result.results.flatMap((r) => (r.status === 'quarantined' ? r.issues : []));
  throw new TidewayError(
    ErrorCode.EventsQuarantined,
    result.quarantined === 1
      ? `the event is invalid and was quarantined: ${issues[0]?.message ?? 'see issues'}`
      : `all ${result.quarantined} events are invalid and were quarantined`,
    { issues, quarantined: result.quarantined, results: result.results },
  );
}
