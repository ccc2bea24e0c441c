import { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { ErrorCode, TidewayError } from '@tideway/events';
import { DEFAULT_MAX_NDJSON_LINE_BYTES, parseNdjson } from './ndjson.ts';
import { parseJsonText } from './request.ts';

/** The file formats a loader reads. */
export const FILE_FORMATS = ['csv', 'ndjson', 'json', 'parquet'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** One row of a file: its values, or why it could not be read (the loader quarantines it and goes on). */
export type FileRow =
  | { readonly row: number; readonly values: Readonly<Record<string, unknown>> }
  | { readonly row: number; readonly error: string; readonly text?: string };

/** Options of the text readers. */
export interface FileReaderOptions {
  /** CSV field delimiter. Default `,`. */
  readonly delimiter?: string;
  /** Longest row (an NDJSON line, a JSON array element) in bytes. Default 1 MiB. */
  readonly maxRowBytes?: number;
}

/** The format of a file from its name, `undefined` when the extension says nothing. */
export function formatOfFileName(name: string): FileFormat | undefined {
  const lower = name.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.csv') || lower.endsWith('.tsv')) return 'csv';
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson';
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.parquet') || lower.endsWith('.pq')) return 'parquet';
  return undefined;
}

/** The format of an upload from its media type. */
export function formatOfMediaType(type: string | undefined): FileFormat | undefined {
  switch (type?.split(';')[0]?.trim().toLowerCase()) {
    case 'text/csv':
    case 'application/csv':
    case 'text/tab-separated-values':
      return 'csv';
    case 'application/x-ndjson':
    case 'application/ndjson':
    case 'application/jsonl':
    case 'application/jsonlines':
      return 'ndjson';
    case 'application/json':
      return 'json';
    case 'application/vnd.apache.parquet':
    case 'application/x-parquet':
    case 'application/parquet':
      return 'parquet';
    default:
      return undefined;
  }
}

/**
 * Reads CSV with a header row as it streams in: one row per record, keyed by the header's column names, cells as
 * text. Rows may have fewer or more cells than the header (missing cells are absent). A syntax error that makes the
 * rest of the file unreadable (an unclosed quote) throws `invalid-body` naming the line.
 */
export async function* readCsvRows(
  chunks: AsyncIterable<Uint8Array>,
  options: FileReaderOptions = {},
): AsyncGenerator<FileRow, void, undefined> {
  const parser = Readable.from(chunks).pipe(
    parseCsv({
      columns: true,
      bom: true,
      delimiter: options.delimiter ?? ',',
      skip_empty_lines: true,
      relax_column_count: true,
      max_record_size: options.maxRowBytes ?? DEFAULT_MAX_NDJSON_LINE_BYTES,
    }),
  );
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      row += 1;
      yield { row, values: record };
    }
  } catch (error) {
    throw new TidewayError(ErrorCode.InvalidBody, `CSV is unreadable after row ${row}: ${(error as Error).message}`, {
      row,
    });
  }
}

/** Reads NDJSON: one row per non-empty line; a line that is not a JSON object is an error row. */
export async function* readNdjsonRows(
  chunks: AsyncIterable<Uint8Array>,
  options: FileReaderOptions = {},
): AsyncGenerator<FileRow, void, undefined> {
  let row = 0;
  for await (const line of parseNdjson(chunks, { maxLineBytes: options.maxRowBytes })) {
    row += 1;
    const text = line.text === undefined ? {} : { text: line.text };
    if (line.error !== undefined) yield { row, error: `line ${line.line}: ${line.error}`, ...text };
    else if (!isRecord(line.value)) yield { row, error: `line ${line.line}: not a JSON object`, ...text };
    else yield { row, values: line.value };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a JSON file whose top level is an array of objects, element by element as it streams in (a file of any
 * length in constant memory). A file that does not start with `[` is read as NDJSON.
 */
export async function* readJsonRows(
  chunks: AsyncIterable<Uint8Array>,
  options: FileReaderOptions = {},
): AsyncGenerator<FileRow, void, undefined> {
  const maxBytes = options.maxRowBytes ?? DEFAULT_MAX_NDJSON_LINE_BYTES;
  const iterator = chunks[Symbol.asyncIterator]();
  const buffered: Uint8Array[] = [];
  // Peek at the first non-blank byte to tell an array from NDJSON.
  let first: number | undefined;
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    buffered.push(next.value);
    const start = next.value.findIndex(
      (b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0xef && b !== 0xbb && b !== 0xbf,
    );
    if (start >= 0) {
      first = next.value[start];
      break;
    }
  }
  async function* replay(): AsyncGenerator<Uint8Array, void, undefined> {
    yield* buffered;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (first === undefined) return;
  if (first !== 0x5b /* [ */) {
    yield* readNdjsonRows(replay(), options);
    return;
  }

  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  let depth = 0;
  let inString = false;
  let escaped = false;
  let pieces: string[] = [];
  let size = 0;
  let tooLong = false;
  let row = 0;
  let ended = false;
  const flush = (): FileRow | undefined => {
    const text = pieces.join('').trim();
    const overLimit = tooLong;
    pieces = [];
    size = 0;
    tooLong = false;
    if (text === '' && !overLimit) return undefined;
    row += 1;
    if (overLimit) return { row, error: `element ${row} is longer than ${maxBytes} bytes` };
    try {
      const value = parseJsonText(text);
      return isRecord(value) ? { row, values: value } : { row, error: `element ${row} is not a JSON object`, text };
    } catch (error) {
      return { row, error: `element ${row}: invalid JSON: ${(error as Error).message}`, text };
    }
  };
  for await (const chunk of replay()) {
    const text = decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === 0x5c) escaped = true;
        else if (ch === 0x22) inString = false;
        continue;
      }
      if (ch === 0x22) inString = true;
      else if (ch === 0x5b || ch === 0x7b) {
        depth += 1;
        if (depth === 1 && ch === 0x5b) start = i + 1; // the opening bracket of the top-level array
      } else if (ch === 0x5d || ch === 0x7d) {
        depth -= 1;
        if (depth === 0) {
          append(text.slice(start, i));
          const result = flush();
          if (result) yield result;
          ended = true;
          start = i + 1;
          break;
        }
      } else if (ch === 0x2c && depth === 1) {
        append(text.slice(start, i));
        const result = flush();
        if (result) yield result;
        start = i + 1;
      }
    }
    if (ended) break;
    append(text.slice(start));
  }
  if (!ended) throw new TidewayError(ErrorCode.InvalidBody, `the JSON array is not closed (after element ${row})`);

  function append(piece: string): void {
    if (tooLong || piece === '') return;
    size += piece.length;
    if (size > maxBytes) {
      tooLong = true;
      pieces = [];
    } else pieces.push(piece);
  }
}

/**
 * Reads a Parquet file row group by row group (memory bounded by the largest row group), with the common codecs
 * (snappy, gzip, zstd, brotli, lz4). 64-bit integers within the safe range become numbers; larger ones stay
 * bigints (a loader turns them into strings).
 */
export async function* readParquetRows(file: AsyncBuffer): AsyncGenerator<FileRow, void, undefined> {
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (error) {
    throw new TidewayError(ErrorCode.InvalidBody, `not a Parquet file: ${(error as Error).message}`);
  }
  let rowStart = 0;
  let row = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors });
    for (const values of rows) {
      row += 1;
      const converted: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(values)) {
        converted[key] =
          typeof value === 'bigint' &&
          value <= BigInt(Number.MAX_SAFE_INTEGER) &&
          value >= BigInt(Number.MIN_SAFE_INTEGER)
            ? Number(value)
            : value;
      }
      yield { row, values: converted };
    }
    rowStart = rowEnd;
  }
}

/** The number of rows a Parquet file declares (for a progress bar). */
export async function parquetRowCount(file: AsyncBuffer): Promise<number> {
  return Number((await parquetMetadataAsync(file)).num_rows);
}

export type { AsyncBuffer };
