import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ErrorCode, EventTypeSchema, TidewayError } from '@tideway/events';
import type { ColumnCast, RowMapping } from './file-rows.ts';
import {
  readCsvRows,
  readJsonRows,
  readNdjsonRows,
  readParquetRows,
  type AsyncBuffer,
  type FileFormat,
  type FileReaderOptions,
  type FileRow,
} from './file-readers.ts';

/** A file on disk as an `AsyncBuffer` (random access, for Parquet), reading only the ranges asked for. */
export async function fileAsyncBuffer(path: string): Promise<AsyncBuffer & { close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const buffer = Buffer.alloc(Math.max(0, stop - start));
      let read = 0;
      while (read < buffer.length) {
        const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + read);
    },
    close: () => handle.close(),
  };
}

/**
 * The identity of a file's content: `sha256:<hex>` of its bytes. Row ids derive from it, so loading the same content
 * again (after a crash, or twice) yields the same ids, whatever the file is called.
 */
export async function fileIdentity(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** The rows of a file on disk, in its format; `onBytes` reports progress for the text formats. */
export async function* rowsOfFile(
  path: string,
  format: FileFormat,
  options: FileReaderOptions & { onBytes?: (bytesRead: number) => void } = {},
): AsyncGenerator<FileRow, void, undefined> {
  if (format === 'parquet') {
    const file = await fileAsyncBuffer(path);
    try {
      yield* readParquetRows(file);
    } finally {
      await file.close();
    }
    return;
  }
  let bytes = 0;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
      bytes += (chunk as Buffer).byteLength;
      options.onBytes?.(bytes);
      yield chunk as Buffer;
    }
  }
  if (format === 'csv') yield* readCsvRows(chunks(), options);
  else if (format === 'ndjson') yield* readNdjsonRows(chunks(), options);
  else yield* readJsonRows(chunks(), options);
}

/** The size of a file in bytes. */
export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

/** Mapping settings as text, as a command line or a query string gives them. */
export interface RowMappingText {
  readonly type?: string;
  readonly source?: string;
  readonly subject?: string;
  readonly time?: string;
  /** `s`/`seconds` or `ms`/`milliseconds`. */
  readonly timeUnit?: string;
  /** Comma-separated id columns. */
  readonly id?: string;
  /** `rest`, or comma-separated columns. */
  readonly data?: string;
  /** Comma-separated `column:cast` pairs, cast one of string, number, integer, boolean, json. */
  readonly cast?: string;
  /** Comma-separated `column:field` pairs renaming data fields. */
  readonly rename?: string;
}

const CASTS: readonly ColumnCast[] = ['string', 'number', 'integer', 'boolean', 'json'];

function pairs(text: string | undefined, what: string): [string, string][] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((part) => {
    const [key, value, ...rest] = part.split(':').map((s) => s.trim());
    if (!key || !value || rest.length > 0)
      throw new TidewayError(ErrorCode.InvalidQuery, `${what}: expected column:value pairs, got "${part}"`);
    return [key, value];
  });
}

function list(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * A {@link RowMapping} from text settings, with the file's name as the default source (`/files/<name>`).
 * @throws TidewayError `invalid-query` naming the bad setting.
 */
export function rowMappingFromText(settings: RowMappingText, fileName: string): RowMapping {
  if (settings.type === undefined || !EventTypeSchema.safeParse(settings.type).success) {
    throw new TidewayError(ErrorCode.InvalidQuery, 'type: an event type is required, e.g. commerce.order.placed');
  }
  const unit = settings.timeUnit;
  if (unit !== undefined && !['s', 'seconds', 'ms', 'milliseconds'].includes(unit)) {
    throw new TidewayError(ErrorCode.InvalidQuery, 'time unit: s or ms');
  }
  const cast: Record<string, ColumnCast> = {};
  for (const [column, kind] of pairs(settings.cast, 'cast')) {
    if (!CASTS.includes(kind as ColumnCast))
      throw new TidewayError(ErrorCode.InvalidQuery, `cast: "${kind}" is not one of ${CASTS.join(', ')}`);
    cast[column] = kind as ColumnCast;
  }
  const rename = Object.fromEntries(pairs(settings.rename, 'rename'));
  const idColumns = list(settings.id);
  const data = settings.data === 'rest' ? 'rest' : list(settings.data);
  return {
    type: settings.type,
    source: settings.source ?? `/files/${basename(fileName)}`,
    ...(settings.subject ? { subject: settings.subject } : {}),
    ...(settings.time ? { time: settings.time } : {}),
    ...(unit ? { timeUnit: unit.startsWith('s') ? 'seconds' : 'milliseconds' } : {}),
    ...(idColumns ? { idColumns } : {}),
    ...(data ? { data } : {}),
    ...(Object.keys(cast).length > 0 ? { cast } : {}),
    ...(Object.keys(rename).length > 0 ? { rename } : {}),
  };
}
