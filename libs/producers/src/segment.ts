import { ErrorCode, TidewayError, type EventInput, type FieldIssue } from '@tideway/events';
import {
  defaultEventValidator,
  eventsOrThrow,
  jsonOriginal,
  reasonOf,
  type EventValidator,
  type ParsedItem,
} from './items.ts';
import {
  bodyText,
  checkBatchSize,
  headerValue,
  isRecord,
  jsonPointer,
  parseDateTime,
  parseJsonBody,
  type ProducerRequest,
} from './request.ts';

/** The calls of the Segment tracking spec. Each becomes the event type `segment.<call>`. */
export const SEGMENT_CALLS = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentCall = (typeof SEGMENT_CALLS)[number];

/** A Segment HTTP tracking API endpoint: `/v1/batch` or one of the single-call endpoints (`/v1/track`, …). */
export type SegmentEndpoint = SegmentCall | 'batch';

/** Options of {@link parseSegment}. */
export interface SegmentOptions {
  /** The endpoint the request was sent to: `batch` for `/v1/batch`, else the call of `/v1/<call>`. */
  readonly endpoint: SegmentEndpoint;
  /** The CloudEvents `source` of the events. Default `segment`. */
  readonly source?: string;
  /** When the gateway received the request; corrects producer clock skew (see {@link parseSegment}). */
  readonly receivedAt?: Date;
  /** Most messages one batch may carry (`batch-too-large` beyond). Unlimited when omitted. */
  readonly maxEvents?: number;
  /** Validates each candidate event; {@link defaultEventValidator} when omitted. */
  readonly validate?: EventValidator;
}

const DEFAULT_SOURCE = 'segment';

/** Where a message's identity fields are, for the envelope attribute they fill. */
const FIELD_OF_ATTRIBUTE: Readonly<Record<string, string>> = { id: 'messageId', time: 'timestamp' };

/**
 * Maps a Segment HTTP tracking API request (the payloads `@segment/analytics-node` and the other Segment
 * libraries send) to event inputs, one per message:
 *
 * - `type` is `segment.<call>` (`segment.track`, `segment.identify`, …); the track event's name stays in `data.event`;
 * - `id` is the `messageId`, the de-duplication id Segment libraries generate once per message and keep across retries;
 * - `subject` is `userId`, else `anonymousId` (one of them is required, as Segment requires);
 * - `time` is `timestamp`; without it, `originalTimestamp` corrected for the producer's clock skew as Segment does
 *   (`receivedAt − (sentAt − originalTimestamp)`); without that, the receive time;
 * - `data` is the whole message, with `type` filled in for the single-call endpoints, the batch-level `context` and
 *   `integrations` merged under the message's own, and `writeKey` removed (a credential does not belong on the stream).
 *
 * @throws TidewayError `invalid-body` when the body is not the JSON the endpoint takes; `empty-batch` /
 *   `batch-too-large`; `invalid-event` with issues pointing into the Segment payload (`/batch/2/userId`, `/event`).
 */
export function parseSegment(request: ProducerRequest, options: SegmentOptions): EventInput[] {
  return eventsOrThrow(parseSegmentItems(request, options), options.endpoint !== 'batch');
}

/**
 * {@link parseSegment}, message by message: request-level problems still throw, each message's validation outcome
 * is returned with the message's JSON as its original, so a gateway can quarantine the invalid ones.
 */
export function parseSegmentItems(request: ProducerRequest, options: SegmentOptions): ParsedItem[] {
  const body = parseJsonBody(request.body);
  if (!isRecord(body)) throw new TidewayError(ErrorCode.InvalidBody, 'a Segment request body must be a JSON object');
  const source = options.source ?? DEFAULT_SOURCE;
  const validate = options.validate ?? defaultEventValidator;

  const endpoint = options.endpoint;
  if (endpoint !== 'batch') {
    const { writeKey: _writeKey, ...message } = body;
    return [
      itemOf(0, message, [], (issues) =>
        toEvent(
          body,
          { call: endpoint, source, receivedAt: options.receivedAt, sentAt: body['sentAt'], validate },
          [],
          issues,
        ),
      ),
    ];
  }

  const batch = body['batch'];
  if (!Array.isArray(batch))
    throw new TidewayError(ErrorCode.InvalidBody, 'a Segment batch must hold its messages in a "batch" array');
  checkBatchSize(batch.length, options.maxEvents);
  const defaults = { context: body['context'], integrations: body['integrations'] };
  return batch.map((message, index) =>
    itemOf(index, message, ['batch', index], (issues) =>
      toEvent(
        message,
        { call: undefined, source, receivedAt: options.receivedAt, sentAt: body['sentAt'], defaults, index, validate },
        ['batch', index],
        issues,
      ),
    ),
  );
}

function itemOf(
  index: number,
  message: unknown,
  _at: readonly (string | number)[],
  map: (issues: FieldIssue[]) => { event?: EventInput; schemaVersion?: number; reason?: string },
): ParsedItem {
  const issues: FieldIssue[] = [];
  const { event, schemaVersion, reason } = map(issues);
  const version = schemaVersion === undefined ? {} : { schemaVersion };
  if (event !== undefined && issues.length === 0) return { index, ok: true, event, ...version };
  return { index, ok: false, issues, original: jsonOriginal(message), reason: reasonOf(issues, reason), ...version };
}

interface MessageContext {
  /** The call fixed by the endpoint; `undefined` in a batch, where each message names its own. */
  readonly call: SegmentCall | undefined;
  readonly source: string;
  readonly receivedAt: Date | undefined;
  readonly sentAt: unknown;
  readonly defaults?: { readonly context: unknown; readonly integrations: unknown };
  readonly index?: number;
  readonly validate: EventValidator;
}

function toEvent(
  message: unknown,
  ctx: MessageContext,
  at: readonly (string | number)[],
  issues: FieldIssue[],
): { event?: EventInput; schemaVersion?: number; reason?: string } {
  const report = (message: string, ...path: string[]) =>
    issues.push({
      ...(ctx.index === undefined ? {} : { index: ctx.index }),
      pointer: jsonPointer(...at, ...path),
      message,
    });
  if (!isRecord(message)) {
    report('a Segment message must be a JSON object');
    return {};
  }

  const declared = message['type'];
  let call: SegmentCall | undefined = ctx.call;
  if (ctx.call === undefined) {
    if (!isSegmentCall(declared)) report(`type must be one of ${SEGMENT_CALLS.join(', ')}`, 'type');
    else call = declared;
  } else if (declared !== undefined && declared !== ctx.call) {
    report(`type ${JSON.stringify(declared)} does not match the /v1/${ctx.call} endpoint`, 'type');
  }

  const userId = identity(message['userId']);
  const anonymousId = identity(message['anonymousId']);
  if (userId === undefined && anonymousId === undefined) report('userId or anonymousId is required', 'userId');
  if (call === 'track' && !nonEmptyString(message['event']))
    report('a track call needs the event name in "event"', 'event');
  if (call === 'group' && identity(message['groupId']) === undefined)
    report('a group call needs a "groupId"', 'groupId');
  if (call === 'alias') {
    if (identity(message['previousId']) === undefined) report('an alias call needs a "previousId"', 'previousId');
    if (userId === undefined) report('an alias call needs a "userId"', 'userId');
  }
  const messageId = message['messageId'];
  if (messageId !== undefined && identity(messageId) === undefined)
    report('messageId must be a non-empty string', 'messageId');

  const time = eventTime(message, ctx, report);
  if (call === undefined) return {};

  const { writeKey: _writeKey, ...rest } = message;
  const data: Record<string, unknown> = { ...rest, type: call };
  for (const key of ['context', 'integrations'] as const) {
    const shared = ctx.defaults?.[key];
    if (isRecord(shared)) data[key] = { ...shared, ...(isRecord(rest[key]) ? rest[key] : {}) };
  }

  const candidate = {
    specversion: '1.0',
    ...(identity(messageId) === undefined ? {} : { id: identity(messageId) }),
    source: ctx.source,
    type: `segment.${call}`,
    ...(userId === undefined && anonymousId === undefined ? {} : { subject: userId ?? anonymousId }),
    ...(time === undefined ? {} : { time }),
    datacontenttype: 'application/json',
    data,
  };
  const result = ctx.validate(candidate);
  if (result.ok)
    return {
      event: result.value,
      ...(result.schemaVersion === undefined ? {} : { schemaVersion: result.schemaVersion }),
    };
  const subjectField = userId === undefined ? 'anonymousId' : 'userId';
  for (const issue of result.issues) {
    const [, attribute = '', ...path] = issue.pointer.split('/');
    const field =
      attribute === 'subject'
        ? subjectField
        : attribute === 'data'
          ? undefined
          : (FIELD_OF_ATTRIBUTE[attribute] ?? attribute);
    report(issue.message, ...(field === undefined ? path : [field, ...path]));
  }
  return {
    ...(result.schemaVersion === undefined ? {} : { schemaVersion: result.schemaVersion }),
    ...(result.reason === undefined ? {} : { reason: result.reason }),
  };
}

function eventTime(
  message: Record<string, unknown>,
  ctx: MessageContext,
  report: (message: string, ...path: string[]) => void,
): string | undefined {
  const timestamp = parseTimestamp(message['timestamp']);
  if (timestamp === null) report('timestamp must be an ISO 8601 date-time with a time zone', 'timestamp');
  if (timestamp) return timestamp.toISOString();

  const original = parseTimestamp(message['originalTimestamp']);
  if (original === null)
    report('originalTimestamp must be an ISO 8601 date-time with a time zone', 'originalTimestamp');
  const sentAt = parseTimestamp(message['sentAt'] ?? ctx.sentAt);
  if (original && sentAt && ctx.receivedAt) {
    return new Date(ctx.receivedAt.getTime() - (sentAt.getTime() - original.getTime())).toISOString();
  }
  if (original) return original.toISOString();
  return ctx.receivedAt?.toISOString();
}

/** A Date for a valid timestamp, `undefined` when absent, `null` when present but malformed. */
function parseTimestamp(value: unknown): Date | undefined | null {
  if (value === undefined || value === null) return undefined;
  return (typeof value === 'string' ? parseDateTime(value) : undefined) ?? null;
}

function isSegmentCall(value: unknown): value is SegmentCall {
  return typeof value === 'string' && (SEGMENT_CALLS as readonly string[]).includes(value);
}

/** Segment ids may be strings or numbers; an empty string is absent. */
function identity(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return nonEmptyString(value) ? value : undefined;
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/**
 * The Segment write key of a request: the user name of `Authorization: Basic base64(writeKey:)`, as the Segment
 * libraries send it, else the `writeKey` field of the JSON body (the HTTP API accepts either). `undefined` when
 * neither is present; other authorization schemes (an OAuth `Bearer` token) are not write keys.
 */
export function segmentWriteKey(request: ProducerRequest): string | undefined {
  const authorization = headerValue(request.headers, 'authorization')?.trim();
  const match = authorization === undefined ? null : /^basic\s+([A-Za-z0-9+/=_-]+)$/i.exec(authorization);
  if (match?.[1] !== undefined) {
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const writeKey = colon < 0 ? decoded : decoded.slice(0, colon);
    if (writeKey !== '') return writeKey;
  }
  const text = bodyText(request.body);
  if (text === undefined || !text.includes('writeKey')) return undefined;
  try {
    const body = JSON.parse(text) as unknown;
    return isRecord(body) && nonEmptyString(body['writeKey']) ? body['writeKey'] : undefined;
  } catch {
    return undefined;
  }
}
