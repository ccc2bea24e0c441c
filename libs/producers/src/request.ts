import { ErrorCode, TidewayError, type FieldIssue } from '@tideway/events';

/**
 * Request headers as a gateway has them: a fetch `Headers` object, or a plain record such as Node's
 * `IncomingHttpHeaders` (any key case; repeated headers as arrays).
 */
export type HeadersLike = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * What a producer sent, before any parsing. `body` is the raw bytes (or their UTF-8 text): signatures are
 * computed over exactly these bytes, so a gateway must not re-serialise a parsed body before handing it over.
 */
export interface ProducerRequest {
  readonly headers: HeadersLike;
  readonly body: Uint8Array | string;
}

/** The value of a header, case-insensitively; repeated headers are joined with `, ` as fetch does. */
export function headerValue(headers: HeadersLike, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    return typeof value === 'string' ? value : value.join(', ');
  }
  return undefined;
}

/** Every header as lower-case name and value. */
export function headerEntries(headers: HeadersLike): [name: string, value: string][] {
  if (headers instanceof Headers) return [...headers.entries()];
  const entries: [string, string][] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    entries.push([key.toLowerCase(), typeof value === 'string' ? value : value.join(', ')]);
  }
  return entries;
}

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The raw body bytes. */
export function bodyBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? encoder.encode(body) : body;
}

/** The body as UTF-8 text (a leading BOM dropped), or `undefined` when the bytes are not valid UTF-8. */
export function bodyText(body: Uint8Array | string): string | undefined {
  if (typeof body === 'string') return body.startsWith('\uFEFF') ? body.slice(1) : body;
  try {
    return strictUtf8.decode(body);
  } catch {
    return undefined;
  }
}

/**
 * Deepest nesting of arrays and objects accepted in any JSON a producer sends. Deeper values are refused as
 * `invalid-body`: serialising or validating them would overflow the stack.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * Whether a parsed JSON value nests deeper than `max`. Recursive, but never deeper than `max` frames; keys are
 * walked with for…in, so a request's events cost no allocation here.
 */
export function jsonTooDeep(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  return typeof value === 'object' && value !== null && deeperThan(value, max);
}

/** Whether `value` (an array or object) holds containers nested `levels` or more deep below it. */
function deeperThan(value: object, levels: number): boolean {
  if (levels <= 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (typeof child === 'object' && child !== null && deeperThan(child, levels - 1)) return true;
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const child = record[key];
    if (typeof child === 'object' && child !== null && Object.hasOwn(record, key) && deeperThan(child, levels - 1)) return true;
  }
  return false;
}

/** `JSON.parse`, refusing values nested deeper than {@link MAX_JSON_DEPTH} (throws a SyntaxError-like Error). */
export function parseJsonText(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  if (jsonTooDeep(value)) throw new Error(`nested deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

/** Parses a JSON body, throwing `invalid-body` when it is not UTF-8 JSON (or nests too deeply). */
export function parseJsonBody(body: Uint8Array | string, what = 'request body'): unknown {
  const text = bodyText(body);
  if (text === undefined) throw new TidewayError(ErrorCode.InvalidBody, `${what} is not valid UTF-8`);
  try {
    return parseJsonText(text);
  } catch (error) {
    throw new TidewayError(
      ErrorCode.InvalidBody,
      `${what} is not valid JSON: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }
}

/** A parsed `Content-Type`: the lower-case media type without parameters, and the parameters. */
export interface MediaType {
  readonly type: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses a `Content-Type` value; `undefined` when absent or empty. */
export function parseMediaType(value: string | undefined): MediaType | undefined {
  if (value === undefined) return undefined;
  const [type = '', ...rest] = value.split(';');
  const mediaType = type.trim().toLowerCase();
  if (mediaType === '') return undefined;
  const params: Record<string, string> = {};
  for (const param of rest) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    const key = param.slice(0, eq).trim().toLowerCase();
    let val = param.slice(eq + 1).trim();
    if (val.length >= 2 && val.startsWith('"') && val.endsWith('"')) val = val.slice(1, -1);
    params[key] = val;
  }
  return { type: mediaType, params };
}

/** Whether a media type carries JSON: `application/json`, `text/json` or any `+json` suffix. */
export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type === 'text/json' || type.endsWith('+json');
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/;

/** Parses an ISO 8601 / RFC 3339 date-time that names its offset; `undefined` for anything else. */
export function parseDateTime(value: string): Date | undefined {
  if (!DATE_TIME.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A JSON pointer (RFC 6901) from path segments. */
export function jsonPointer(...path: readonly (string | number)[]): string {
  return path.map((p) => '/' + String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

/** Reads a value by JSON pointer; `undefined` when any step is missing. */
export function readPointer(value: unknown, pointer: string): unknown {
  if (pointer === '') return value;
  if (!pointer.startsWith('/')) return undefined;
  let current = value;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key)) return undefined;
      current = current[Number(key)];
    } else if (isRecord(current)) {
      current = Object.hasOwn(current, key) ? current[key] : undefined;
    } else {
      return undefined;
    }
  }
  return current;
}

/** Whether a value is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `invalid-event` error for a list of issues. */
export function invalidEvent(issues: readonly FieldIssue[], items: number): TidewayError {
  const itemsWithIssues = new Set(issues.map((issue) => issue.index)).size;
  const message =
    items > 1
      ? `${itemsWithIssues} of ${items} events are invalid`
      : `the event is invalid: ${issues[0]?.message ?? 'unknown issue'}`;
  return new TidewayError(ErrorCode.InvalidEvent, message, { issues });
}

/** Throws `empty-batch` / `batch-too-large` for a batch outside its bounds. */
export function checkBatchSize(size: number, maxEvents: number | undefined): void {
  if (size === 0) throw new TidewayError(ErrorCode.EmptyBatch, 'the batch holds no events');
  if (maxEvents !== undefined && size > maxEvents) {
    throw new TidewayError(
      ErrorCode.BatchTooLarge,
      `the batch holds ${size} events; at most ${maxEvents} are accepted`,
      { maxEvents },
    );
  }
}
