import { ErrorCode, EventInputSchema, TidewayError, type EventInput, type FieldIssue } from '@tideway/events';
import { dataEncodingOf, decodeData, isBase64 } from './data-encoding.ts';
import {
  defaultEventValidator,
  eventsOrThrow,
  jsonOriginal,
  reasonOf,
  type EventValidator,
  type ParsedItem,
} from './items.ts';
import {
  checkBatchSize,
  headerEntries,
  headerValue,
  isJsonMediaType,
  isRecord,
  jsonPointer,
  parseJsonBody,
  parseMediaType,
  type ProducerRequest,
} from './request.ts';

/** The CloudEvents HTTP content modes, plus a plain JSON body of CloudEvents-shaped objects. */
export type CloudEventsMode = 'structured' | 'batch' | 'binary' | 'json';

/** Options of {@link parseCloudEvents}. */
export interface CloudEventsOptions {
  /**
   * What to do with an extension attribute the envelope does not define (it is strict: only `tenant`,
   * `partitionkey`, `traceparent`, `tracestate`, `causationid` and `correlationid` are stored).
   * `reject` (the default) fails the event with an issue naming the attribute, so a producer learns that its
   * attribute would be lost; `drop` accepts the event without it.
   */
  readonly unknownExtensions?: 'reject' | 'drop';
  /** Most events one request may carry (`batch-too-large` beyond). Unlimited when omitted. */
  readonly maxEvents?: number;
  /** Validates each candidate event; {@link defaultEventValidator} when omitted. */
  readonly validate?: EventValidator;
}

const STRUCTURED = 'application/cloudevents';
const BATCH = 'application/cloudevents-batch+json';
const HEADER_PREFIX = 'ce-';

/** Attributes the envelope stores; anything else a producer sends is an unknown extension. */
const KNOWN_ATTRIBUTES: ReadonlySet<string> = new Set(Object.keys(EventInputSchema.shape));
const KNOWN_EXTENSIONS = ['tenant', 'partitionkey', 'traceparent', 'tracestate', 'causationid', 'correlationid'];

/**
 * The content mode of a request, from its headers (CloudEvents HTTP binding 1.0, section 3): a
 * `application/cloudevents-batch+json` body is a batch, `application/cloudevents+json` is structured, any `ce-*`
 * header means binary, and any other JSON body is read as one CloudEvents-shaped object or an array of them.
 * `undefined` when the request is none of these.
 */
export function cloudEventsMode(request: Pick<ProducerRequest, 'headers'>): CloudEventsMode | undefined {
  const media = parseMediaType(headerValue(request.headers, 'content-type'));
  if (media?.type === BATCH) return 'batch';
  if (media?.type === `${STRUCTURED}+json`) return 'structured';
  if (media?.type.startsWith(STRUCTURED)) return undefined;
  if (headerEntries(request.headers).some(([name]) => name.startsWith(HEADER_PREFIX))) return 'binary';
  if (media !== undefined && isJsonMediaType(media.type)) return 'json';
  return undefined;
}

/**
 * Parses a CloudEvents HTTP request (spec 1.0) into validated event inputs.
 *
 * - **structured** (`application/cloudevents+json`): the body is one event in the JSON format;
 * - **batch** (`application/cloudevents-batch+json`): the body is a JSON array of such events;
 * - **binary**: `ce-<attr>` headers carry the attributes (percent-decoded), `Content-Type` is `datacontenttype`
 *   and the body is the data;
 * - **plain JSON** (`application/json`): one CloudEvents-shaped object, or an array of them.
 *
 * `data` follows {@link dataEncodingOf}: JSON content types are parsed, text is kept as a string, and any other
 * content type (binary-mode bytes, or `data_base64` in the JSON format) becomes the base64 string in `data`. An
 * attribute sent as JSON `null` counts as absent. Unknown extension attributes are rejected or dropped per
 * {@link CloudEventsOptions.unknownExtensions}.
 *
 * @throws TidewayError `unsupported-media-type` for a request in none of the modes; `invalid-body` for a body that
 *   is not JSON where JSON is required; `empty-batch` / `batch-too-large`; `invalid-event` with one issue per bad
 *   attribute, pointers prefixed with the item index in batch and array requests.
 */
export function parseCloudEvents(request: ProducerRequest, options: CloudEventsOptions = {}): EventInput[] {
  return eventsOrThrow(parseCloudEventsItems(request, options), cloudEventsMode(request) === 'binary');
}

/**
 * {@link parseCloudEvents}, item by item: a request-level problem (media type, a body that is not JSON, an empty
 * or oversized batch) still throws, but each item's validation outcome is returned instead of thrown, with the
 * item's original bytes, so that a gateway can store the valid events and quarantine the others.
 */
export function parseCloudEventsItems(request: ProducerRequest, options: CloudEventsOptions = {}): ParsedItem[] {
  const mode = cloudEventsMode(request);
  switch (mode) {
    case undefined: {
      const contentType = headerValue(request.headers, 'content-type');
      throw new TidewayError(
        ErrorCode.UnsupportedMediaType,
        `expected CloudEvents (application/cloudevents+json, application/cloudevents-batch+json, ce-* headers) or application/json, got ${contentType ?? 'no content type'}`,
      );
    }
    case 'binary':
      return parseBinary(request, options);
    case 'structured': {
      const body = parseJsonBody(request.body);
      if (!isRecord(body))
        throw new TidewayError(ErrorCode.InvalidBody, 'a structured CloudEvent must be a JSON object');
      return parseStructuredItems([body], false, options);
    }
    case 'batch': {
      const body = parseJsonBody(request.body);
      if (!Array.isArray(body))
        throw new TidewayError(ErrorCode.InvalidBody, 'a CloudEvents batch must be a JSON array');
      checkBatchSize(body.length, options.maxEvents);
      return parseStructuredItems(body, true, options);
    }
    case 'json': {
      const body = parseJsonBody(request.body);
      if (Array.isArray(body)) {
        checkBatchSize(body.length, options.maxEvents);
        return parseStructuredItems(body, true, options);
      }
      if (!isRecord(body))
        throw new TidewayError(ErrorCode.InvalidBody, 'the body must be a JSON object or an array of objects');
      return parseStructuredItems([body], false, options);
    }
  }
}

function parseStructuredItems(items: readonly unknown[], batch: boolean, options: CloudEventsOptions): ParsedItem[] {
  const validate = options.validate ?? defaultEventValidator;
  const parsed: ParsedItem[] = new Array<ParsedItem>(items.length);
  // One issue list and reporter for the whole request: an item's issues are the ones reported since it began
  // (no closure or array per item on the path of valid events).
  const issues: FieldIssue[] = [];
  let index = 0;
  const report: Reporter = (message, ...path) => {
    issues.push(batch ? { index, pointer: jsonPointer(index, ...path), message } : { pointer: jsonPointer(...path), message });
  };
  for (; index < items.length; index++) {
    const item = items[index];
    if (!isRecord(item)) {
      report('must be a JSON object');
      parsed[index] = { index, ok: false, issues: issues.splice(0), original: jsonOriginal(item), reason: 'envelope' };
      continue;
    }
    const result = validate(fromStructured(item, options, report), batch ? index : undefined);
    if (result.ok && issues.length === 0) {
      parsed[index] =
        result.schemaVersion === undefined
          ? { index, ok: true, event: result.value }
          : { index, ok: true, event: result.value, schemaVersion: result.schemaVersion };
      continue;
    }
    if (!result.ok) issues.push(...result.issues);
    const own = issues.splice(0);
    parsed[index] = {
      index,
      ok: false,
      issues: own,
      original: jsonOriginal(item),
      reason: reasonOf(own, result.ok ? undefined : result.reason),
      ...version(result.schemaVersion),
    };
  }
  return parsed;
}

type Reporter = (message: string, ...path: (string | number)[]) => void;

function version(schemaVersion: number | undefined): { schemaVersion?: number } {
  return schemaVersion === undefined ? {} : { schemaVersion };
}

function fromStructured(
  item: Record<string, unknown>,
  options: CloudEventsOptions,
  report: Reporter,
): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  // for…in (own keys only), not an entries array per event.
  for (const key in item) {
    if (key === 'data' || key === 'data_base64' || !Object.hasOwn(item, key)) continue;
    const value = item[key];
    if (value === null) continue;
    if (!KNOWN_ATTRIBUTES.has(key)) {
      if ((options.unknownExtensions ?? 'reject') === 'reject') report(unknownExtensionMessage(key), key);
      continue;
    }
    event[key] = value;
  }

  const hasData = Object.hasOwn(item, 'data');
  const base64 = item['data_base64'];
  const contentType = typeof event['datacontenttype'] === 'string' ? event['datacontenttype'] : undefined;
  if (base64 !== undefined && base64 !== null) {
    if (hasData) {
      report('data and data_base64 are mutually exclusive', 'data_base64');
    } else if (typeof base64 !== 'string' || !isBase64(base64)) {
      report('data_base64 must be a base64 string', 'data_base64');
    } else {
      if (contentType === undefined) event['datacontenttype'] = 'application/octet-stream';
      const encoding = dataEncodingOf(contentType ?? 'application/octet-stream');
      if (encoding === 'base64') {
        event['data'] = base64;
      } else {
        try {
          event['data'] = decodeData(Buffer.from(base64, 'base64'), contentType, 'data_base64');
        } catch (error) {
          if (!(error instanceof TidewayError)) throw error;
          report(error.message, 'data_base64');
        }
      }
    }
  } else if (hasData) {
    const data = item['data'];
    const encoding = dataEncodingOf(contentType);
    if (encoding === 'json') {
      event['data'] = data;
    } else if (typeof data !== 'string') {
      report(
        encoding === 'text'
          ? `data must be a string for content type ${contentType}`
          : `data of content type ${contentType} must be sent as data_base64 (or as a string)`,
        'data',
      );
    } else {
      event['data'] = encoding === 'text' ? data : Buffer.from(data, 'utf8').toString('base64');
    }
  }
  return event;
}

function parseBinary(request: ProducerRequest, options: CloudEventsOptions): ParsedItem[] {
  const issues: FieldIssue[] = [];
  const event: Record<string, unknown> = {};
  let headerContentType: string | undefined;
  for (const [name, raw] of headerEntries(request.headers)) {
    if (!name.startsWith(HEADER_PREFIX)) continue;
    const attribute = name.slice(HEADER_PREFIX.length);
    const value = decodeHeaderValue(raw);
    if (attribute === 'datacontenttype') {
      headerContentType = value;
    } else if (attribute === 'data' || attribute === 'data_base64' || !KNOWN_ATTRIBUTES.has(attribute)) {
      if ((options.unknownExtensions ?? 'reject') === 'reject') {
        issues.push({
          pointer: jsonPointer(attribute),
          message: `${name} header: ${unknownExtensionMessage(attribute)}`,
        });
      }
    } else {
      event[attribute] = value;
    }
  }
  // Content-Type carries datacontenttype in binary mode; a ce-datacontenttype header is only a fallback.
  const contentType = headerValue(request.headers, 'content-type')?.trim() || headerContentType;
  if (contentType !== undefined) event['datacontenttype'] = contentType;
  const size = typeof request.body === 'string' ? request.body.length : request.body.byteLength;
  if (size > 0) event['data'] = decodeData(request.body, contentType, 'the body (the event data)');

  const result = (options.validate ?? defaultEventValidator)(event);
  if (result.ok && issues.length === 0)
    return [{ index: 0, ok: true, event: result.value, ...version(result.schemaVersion) }];
  if (!result.ok) issues.push(...result.issues);
  return [
    {
      index: 0,
      ok: false,
      issues: issues.map((issue) => ({ ...issue, message: binaryIssueMessage(issue) })),
      original: { payload: request.body, contentType: contentType ?? 'application/octet-stream' },
      reason: reasonOf(issues, result.ok ? undefined : result.reason),
      ...version(result.schemaVersion),
    },
  ];
}

/** Names the header an envelope issue came from, e.g. `ce-type header: …`. */
function binaryIssueMessage(issue: FieldIssue): string {
  if (issue.message.includes(' header: ')) return issue.message;
  const attribute = issue.pointer.split('/')[1] ?? '';
  if (attribute === 'data') return `body: ${issue.message}`;
  if (attribute === 'datacontenttype') return `content-type header: ${issue.message}`;
  return `${HEADER_PREFIX}${attribute} header: ${issue.message}`;
}

function unknownExtensionMessage(attribute: string): string {
  return `unknown extension attribute "${attribute}": Tideway stores only the extensions ${KNOWN_EXTENSIONS.join(', ')}`;
}

/**
 * A `ce-*` header value: an RFC 7230 quoted-string is unquoted, then one round of percent-decoding is applied
 * (HTTP binding 3.1.3.2). A value whose `%` sequences are not valid UTF-8 is kept as sent.
 */
export function decodeHeaderValue(raw: string): string {
  let value = raw.trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
    value = value.slice(1, -1).replace(/\\(.)/g, '$1');
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
