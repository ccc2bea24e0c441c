import type { EventInput, FieldIssue } from '@tideway/events';
import { defaultEventValidator, reasonOf, type EventValidator, type OriginalItem } from './items.ts';
import { parseJsonText } from './request.ts';

/** One non-empty line of an NDJSON body: its parsed value, or why it could not be parsed. */
export interface NdjsonLine {
  /** 1-based line number in the body, counting empty lines, so a producer can find the line in its file. */
  readonly line: number;
  readonly value?: unknown;
  readonly error?: string;
  /** The line as sent (without its terminator), when it was valid UTF-8 within the length limit. */
  readonly text?: string;
}

/** Options of {@link parseNdjson}. */
export interface NdjsonOptions {
  /** Longest accepted line in bytes, without its line terminator. Longer lines yield an error and are skipped. Default 1 MiB. */
  readonly maxLineBytes?: number;
}

/** Default {@link NdjsonOptions.maxLineBytes}. */
export const DEFAULT_MAX_NDJSON_LINE_BYTES = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

function isReadableStream(
  input: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): input is ReadableStream<Uint8Array> {
  return typeof (input as Partial<ReadableStream<Uint8Array>>).getReader === 'function';
}

/** Reads a fetch body stream or any async iterable of byte chunks, cancelling the stream if the reader stops early. */
async function* chunksOf(
  input: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array, void, undefined> {
  // Duck-typed: a body stream from another realm or polyfill is not an instance of this realm's ReadableStream.
  if (!isReadableStream(input)) {
    yield* input;
    return;
  }
  const reader = input.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function concat(pieces: readonly Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1 && pieces[0] !== undefined) return pieces[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

/**
 * Parses newline-delimited JSON as it streams in, yielding one result per non-empty line. Only the line being
 * read is held in memory (at most `maxLineBytes`), so a body of any size is parsed in constant memory; a bad line
 * yields an `error` and the lines after it are still read.
 *
 * Lines end with LF or CRLF; a UTF-8 sequence may be split across chunks; a leading BOM is ignored; lines of
 * whitespace only are skipped (their numbers still count).
 *
 * @example
 * for await (const { line, value, error } of parseNdjson(request.body!)) {
 *   if (error) issues.push({ index: line, pointer: `/${line}`, message: error });
 *   else accept(value);
 * }
 */
export async function* parseNdjson(
  input: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  options: NdjsonOptions = {},
): AsyncGenerator<NdjsonLine, void, undefined> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_NDJSON_LINE_BYTES;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let pieces: Uint8Array[] = [];
  let size = 0;
  let tooLong = false;
  let line = 0;

  const finish = (): NdjsonLine | undefined => {
    line += 1;
    const overLimit = tooLong;
    const bytes = overLimit ? new Uint8Array(0) : concat(pieces, size);
    pieces = [];
    size = 0;
    tooLong = false;
    if (overLimit) return { line, error: `line is longer than ${maxLineBytes} bytes` };

    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end -= 1;
    const start = line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    if (end - start > maxLineBytes) return { line, error: `line is longer than ${maxLineBytes} bytes` };
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(start, end));
    } catch {
      return { line, error: 'line is not valid UTF-8' };
    }
    if (text.trim() === '') return undefined;
    try {
      return { line, value: parseJsonText(text), text };
    } catch (error) {
      return { line, error: `invalid JSON: ${(error as Error).message}`, text };
    }
  };

  for await (const chunk of chunksOf(input)) {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      const end = newline < 0 ? chunk.length : newline;
      if (!tooLong && end > start) {
        // One byte of slack for a CR that turns out to end the line; `finish` applies the exact limit.
        if (size + (end - start) > maxLineBytes + 1) {
          tooLong = true;
          pieces = [];
          size = 0;
        } else {
          // A piece kept past this chunk is copied: a stream may reuse its buffers.
          pieces.push(newline < 0 ? chunk.slice(start, end) : chunk.subarray(start, end));
          size += end - start;
        }
      }
      if (newline < 0) break;
      const result = finish();
      if (result !== undefined) yield result;
      start = newline + 1;
    }
  }
  if (size > 0 || tooLong) {
    const result = finish();
    if (result !== undefined) yield result;
  }
}

/** One line of an NDJSON body of events: the validated event, or what is wrong with the line. */
export type NdjsonEvent =
  | { readonly line: number; readonly event: EventInput; readonly schemaVersion?: number }
  | {
      readonly line: number;
      readonly issues: readonly FieldIssue[];
      /** `unparseable` (not JSON, not UTF-8, too long), or the validator's category (`envelope`, `schema`). */
      readonly reason: string;
      /** The line as sent; absent when it could not be kept (too long, not UTF-8). */
      readonly original?: OriginalItem;
      readonly schemaVersion?: number;
    };

/**
 * {@link parseNdjson} for a body with one CloudEvents-shaped JSON object per line, validating each against the
 * envelope (or with `options.validate`). Issues carry the line number as `index` and in the pointer (`/12/type`).
 */
export async function* parseNdjsonEvents(
  input: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  options: NdjsonOptions & { readonly validate?: EventValidator } = {},
): AsyncGenerator<NdjsonEvent, void, undefined> {
  const validate = options.validate ?? defaultEventValidator;
  for await (const { line, value, error, text } of parseNdjson(input, options)) {
    const original = text === undefined ? {} : { original: { payload: text, contentType: 'application/json' } };
    if (error !== undefined) {
      yield {
        line,
        issues: [{ index: line, pointer: `/${line}`, message: error }],
        reason: 'unparseable',
        ...original,
      };
      continue;
    }
    const result = validate(value, line);
    const version = result.schemaVersion === undefined ? {} : { schemaVersion: result.schemaVersion };
    yield result.ok
      ? { line, event: result.value, ...version }
      : { line, issues: result.issues, reason: reasonOf(result.issues, result.reason), ...original, ...version };
  }
}
