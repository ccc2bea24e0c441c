import { createHash } from 'node:crypto';
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { ErrorCode, TidewayError, quarantineSubject, type FieldIssue, type SubjectScheme } from '@tideway/events';
import type { OutgoingMessage } from '@tideway/nats';
import type { OriginalItem } from '@tideway/producers';

/** The producer kinds ("channels") an item can arrive through. */
export type Channel = 'events' | 'ndjson' | 'segment' | 'webhook' | 'upload' | 'poller' | 'resubmit' | 'internal';

/** Largest record this gateway writes: NATS refuses messages over its max payload (1 MiB by default). */
const MAX_RECORD_BYTES = 1000 * 1024;
const MAX_ISSUES = 100;
const MAX_HEADER_BYTES = 16 * 1024;

/** What is stored on the QUARANTINE stream for one invalid item (JSON, snake_case like the HTTP API). */
export interface QuarantineRecord {
  readonly tenant: string;
  /** `envelope` (attributes), `schema` (payload against its registered schema), `unparseable` (not JSON). */
  readonly reason: string;
  readonly channel: Channel;
  readonly received_at: string;
  /** The key that sent it (`anonymous` when authentication is off). */
  readonly key_id: string;
  /** Position of the item in its request (array index, NDJSON line, file row). */
  readonly index: number;
  readonly issues: readonly FieldIssue[];
  /** The event type and schema version the payload was checked against, when known. */
  readonly schema: { readonly type?: string; readonly version?: number };
  readonly content_type: string;
  /** The item as sent: UTF-8 text, or base64 of its bytes. */
  readonly payload: string;
  readonly payload_encoding: 'utf8' | 'base64';
  readonly payload_truncated?: true;
  /** The request's headers (credentials removed). */
  readonly request_headers: Readonly<Record<string, string>>;
}

/** What happened to a quarantined item since. */
export type QuarantineResolution =
  | { readonly state: 'resubmitting'; readonly at: string; readonly by: string }
  | {
      readonly state: 'resubmitted';
      readonly at: string;
      readonly by: string;
      readonly event: {
        readonly id: string;
        readonly source: string;
        readonly stream: string;
        readonly seq: number;
        readonly duplicate: boolean;
      };
    }
  | { readonly state: 'rejected'; readonly at: string; readonly by: string; readonly reason: string };

/** A quarantined item as the API shows it. Its id is its QUARANTINE stream sequence. */
export interface QuarantineItem extends QuarantineRecord {
  readonly id: string;
  readonly status: 'open' | 'resubmitted' | 'rejected';
  readonly resolution?: QuarantineResolution;
}

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);

/** The headers worth keeping with a quarantined item: all but credentials, capped in size. */
export function keptHeaders(headers: Headers): Record<string, string> {
  const kept: Record<string, string> = {};
  let size = 0;
  for (const [name, value] of headers) {
    if (SECRET_HEADERS.has(name)) continue;
    size += name.length + value.length;
    if (size > MAX_HEADER_BYTES) break;
    kept[name] = value;
  }
  return kept;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function encodePayload(payload: Uint8Array | string): { payload: string; payload_encoding: 'utf8' | 'base64' } {
  if (typeof payload === 'string') return { payload, payload_encoding: 'utf8' };
  try {
    return { payload: utf8.decode(payload), payload_encoding: 'utf8' };
  } catch {
    return { payload: Buffer.from(payload).toString('base64'), payload_encoding: 'base64' };
  }
}

/** The event type named in an item's JSON text, when it has one. */
function typeOf(original: OriginalItem): string | undefined {
  if (typeof original.payload !== 'string' || !original.payload.includes('"type"')) return undefined;
  try {
    const value = JSON.parse(original.payload) as unknown;
    if (typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string') {
      return (value as { type: string }).type;
    }
  } catch {
    // not JSON: no type
  }
  return undefined;
}

/** Where quarantined items live: the QUARANTINE stream, and a KV bucket of their resolutions. */
export interface QuarantineStoreOptions {
  readonly scheme: SubjectScheme;
  /** The QUARANTINE stream's name in this deployment. */
  readonly stream: string;
  readonly jsm: JetStreamManager;
  /** Resolutions, keyed `<tenant>.<id>`. */
  readonly resolutions: KV;
}

/**
 * The quarantine: invalid items, stored with what was sent and why they were refused, and their resolution (corrected
 * and resubmitted, or rejected with a reason). Items are messages on the QUARANTINE stream
 * (`<root>.quarantine.<tenant>.<reason>`); an item's id is its stream sequence; resolutions live in a KV bucket so an
 * item is resolved at most once.
 */
export class QuarantineStore {
  constructor(private readonly options: QuarantineStoreOptions) {}

  /**
   * The message that quarantines an item. Its de-duplication id digests tenant, reason and payload, so a producer
   * retrying a request quarantines each bad item once and gets the same id back.
   */
  message(
    original: OriginalItem,
    fields: Omit<QuarantineRecord, 'payload' | 'payload_encoding' | 'content_type' | 'schema'> & {
      schemaVersion?: number;
    },
  ): { message: OutgoingMessage; bytes: number } {
    const { schemaVersion, ...rest } = fields;
    const type = typeOf(original);
    const record: QuarantineRecord = {
      ...rest,
      issues: fields.issues.slice(0, MAX_ISSUES),
      schema: {
        ...(type === undefined ? {} : { type }),
        ...(schemaVersion === undefined ? {} : { version: schemaVersion }),
      },
      content_type: original.contentType,
      ...encodePayload(original.payload),
    };
    let payload = encoder.encode(JSON.stringify(record));
    if (payload.byteLength > MAX_RECORD_BYTES) {
      const room = Math.max(0, MAX_RECORD_BYTES - (payload.byteLength - record.payload.length) - 1024);
      payload = encoder.encode(
        JSON.stringify({ ...record, payload: record.payload.slice(0, room), payload_truncated: true }),
      );
    }
    const digest = createHash('sha256').update(fields.tenant).update('\0').update(fields.reason).update('\0');
    digest.update(typeof original.payload === 'string' ? original.payload : Buffer.from(original.payload));
    return {
      message: {
        subject: quarantineSubject(this.options.scheme, fields.tenant, fields.reason),
        payload,
        msgId: `q:${digest.digest('base64url')}`,
      },
      bytes: payload.byteLength,
    };
  }

  /** One item of a tenant; `undefined` when there is none with that id in the tenant. */
  async get(tenant: string, id: string): Promise<QuarantineItem | undefined> {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
    const msg = await this.options.jsm.direct.getMessage(this.options.stream, { seq: Number(id) }).catch(() => null);
    if (msg === null || !msg.subject.startsWith(`${this.options.scheme.root}.quarantine.${tenant}.`)) return undefined;
    return this.withResolution(id, tenant, this.recordOf(msg, tenant));
  }

  /**
   * The record of a message. Other writers to QUARANTINE (a projection's poison messages, a pipeline's) store the
   * original message with the reason in headers; those are shown with channel `internal`.
   */
  private recordOf(msg: StoredMsg, tenant: string): QuarantineRecord {
    const reason = msg.subject.split('.').slice(3).join('.');
    let parsed: unknown;
    try {
      parsed = msg.json<unknown>();
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && 'payload_encoding' in parsed && 'channel' in parsed) {
      return { ...(parsed as QuarantineRecord), tenant };
    }
    const headers: Record<string, string> = {};
    for (const [name, values] of msg.header ?? []) headers[name] = values.join(', ');
    return {
      tenant,
      reason,
      channel: 'internal',
      received_at: msg.time.toISOString(),
      key_id: '',
      index: 0,
      issues: [
        { pointer: '', message: headers['Tw-Reason'] ?? headers['Tideway-Reason'] ?? `quarantined by ${reason}` },
      ],
      schema: {},
      content_type: headers['Content-Type'] ?? 'application/json',
      ...encodePayload(msg.data),
      request_headers: headers,
    };
  }

  private async withResolution(id: string, tenant: string, record: QuarantineRecord): Promise<QuarantineItem> {
    const resolution = await this.resolution(tenant, id);
    const status =
      resolution?.state === 'rejected' ? 'rejected' : resolution?.state === 'resubmitted' ? 'resubmitted' : 'open';
    return { id, ...record, status, ...(resolution === undefined ? {} : { resolution }) };
  }

  private async resolution(tenant: string, id: string): Promise<QuarantineResolution | undefined> {
    const entry = await this.options.resolutions.get(`${tenant}.${id}`);
    return entry === null || entry.operation !== 'PUT' ? undefined : entry.json<QuarantineResolution>();
  }

  /**
   * A page of a tenant's items, oldest first, after the item `after` (exclusive). `status` filters (scanning on
   * until `limit` items match or 10 × `limit` were read); `next` continues the listing.
   */
  async list(
    tenant: string,
    filter: { after?: number; limit: number; reason?: string; status?: 'open' | 'resubmitted' | 'rejected' },
  ): Promise<{ items: QuarantineItem[]; next: string | null }> {
    const subject = `${this.options.scheme.root}.quarantine.${tenant}.${filter.reason ?? '>'}`;
    const items: QuarantineItem[] = [];
    let seq = (filter.after ?? 0) + 1;
    let scanned = 0;
    let last: number | undefined;
    while (items.length < filter.limit && scanned < filter.limit * 10) {
      const msg = await this.options.jsm.direct.getMessage(this.options.stream, { seq, next_by_subj: subject });
      if (msg === null) return { items, next: null };
      scanned++;
      last = msg.seq;
      seq = msg.seq + 1;
      const item = await this.withResolution(String(msg.seq), tenant, this.recordOf(msg, tenant));
      if (filter.status === undefined || item.status === filter.status) items.push(item);
    }
    return { items, next: last === undefined ? null : String(last) };
  }

  /**
   * Claims an open item for a resolution; exactly one caller wins.
   * @throws TidewayError `conflict` when it is resolved (or being resolved) already.
   */
  async claim(tenant: string, id: string, resolution: QuarantineResolution): Promise<number> {
    try {
      return await this.options.resolutions.create(`${tenant}.${id}`, JSON.stringify(resolution));
    } catch (cause) {
      const current = await this.resolution(tenant, id);
      throw new TidewayError(
        ErrorCode.Conflict,
        `quarantined item ${id} is already ${current?.state ?? 'being resolved'}`,
        { resolution: current },
        { cause },
      );
    }
  }

  /** Records the final resolution of a claimed item. */
  async settle(tenant: string, id: string, resolution: QuarantineResolution, revision: number): Promise<void> {
    await this.options.resolutions.update(`${tenant}.${id}`, JSON.stringify(resolution), revision);
  }

  /** Gives a claimed item back (its resubmission failed). */
  async release(tenant: string, id: string): Promise<void> {
    await this.options.resolutions.purge(`${tenant}.${id}`);
  }
}
