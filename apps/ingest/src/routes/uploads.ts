import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Hono } from 'hono';
import { authenticate, type AuthEnv } from '@tideway/auth';
import { ErrorCode, TidewayError } from '@tideway/events';
import {
  FILE_FORMATS,
  formatOfFileName,
  formatOfMediaType,
  rowMappingFromText,
  rowToItem,
  rowsOfFile,
  type FileFormat,
} from '@tideway/producers';
import { BulkIngest } from '../bulk.ts';
import { admit, declaredLength, rateLimit, type Gateway } from '../gateway.ts';
import { ingestContext } from './events.ts';

/** Spools a request body to a temp file, hashing it, refusing it beyond `limit` bytes. */
async function spool(
  body: ReadableStream<Uint8Array> | null,
  path: string,
  limit: number,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  let bytes = 0;
  try {
    if (body !== null) {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        bytes += chunk.byteLength;
        if (bytes > limit) throw new TidewayError(ErrorCode.BodyTooLarge, `uploads are limited to ${limit} bytes`);
        hash.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
      }
    }
  } finally {
    out.end();
    await finished(out).catch(() => undefined);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * `POST /v1/uploads`: a CSV, NDJSON, JSON or Parquet file as the body, mapped to events by query parameters (`type`,
 * and optionally `source`, `subject`, `time`, `time_unit`, `id`, `data`, `cast`, `rename`, `format`, `name`,
 * `delimiter`) — the same mapping as `tideway ingest`. The body is spooled to a temp file (Parquet needs random
 * access) and hashed: row ids derive from the content hash and the row number, so uploading the same file again
 * stores nothing twice. Invalid rows are quarantined and listed in `failures`.
 */
export function mountUploadRoutes(app: Hono<AuthEnv>, gateway: Gateway): void {
  const { config } = gateway;
  app.post(
    '/v1/uploads',
    authenticate({
      mode: config.TIDEWAY_AUTH,
      keys: gateway.keys,
      defaultTenant: config.INGEST_DEFAULT_TENANT,
      scope: 'ingest',
    }),
    rateLimit(gateway),
    admit(gateway, () => 1024 * 1024),
    async (c) => {
      const q = c.req.query();
      const name = q['name'] ?? 'upload';
      const format =
        (q['format'] as FileFormat | undefined) ??
        formatOfMediaType(c.req.header('content-type')) ??
        formatOfFileName(name);
      if (format === undefined || !FILE_FORMATS.includes(format)) {
        throw new TidewayError(
          ErrorCode.UnsupportedMediaType,
          `say the file format with ?format=${FILE_FORMATS.join('|')} or a matching content type`,
        );
      }
      const mapping = rowMappingFromText(
        {
          type: q['type'],
          source: q['source'],
          subject: q['subject'],
          time: q['time'],
          timeUnit: q['time_unit'],
          id: q['id'],
          data: q['data'],
          cast: q['cast'],
          rename: q['rename'],
        },
        name,
      );
      if (declaredLength(c, 0) > config.INGEST_MAX_UPLOAD_BYTES) {
        throw new TidewayError(
          ErrorCode.BodyTooLarge,
          `uploads are limited to ${config.INGEST_MAX_UPLOAD_BYTES} bytes`,
        );
      }
      const dir = await mkdtemp(join(tmpdir(), 'tideway-upload-'));
      try {
        const path = join(dir, 'body');
        const { bytes, sha256 } = await spool(c.req.raw.body, path, config.INGEST_MAX_UPLOAD_BYTES);
        if (bytes === 0) throw new TidewayError(ErrorCode.EmptyBatch, 'the upload is empty');
        const identity = q['file_id'] ?? `sha256:${sha256}`;
        const bulk = new BulkIngest(gateway.pipeline, ingestContext(c, 'upload'), config.INGEST_BULK_IN_FLIGHT);
        try {
          for await (const row of rowsOfFile(path, format, {
            maxRowBytes: config.INGEST_MAX_EVENT_BYTES,
            ...(q['delimiter'] ? { delimiter: q['delimiter'] } : {}),
          })) {
            if ('error' in row) {
              if (row.text === undefined)
                bulk.skip(row.row, 'unparseable', [{ index: row.row, pointer: `/${row.row}`, message: row.error }]);
              else
                await bulk.add({
                  index: row.row,
                  ok: false,
                  issues: [{ index: row.row, pointer: `/${row.row}`, message: row.error }],
                  original: { payload: row.text, contentType: 'application/json' },
                  reason: 'unparseable',
                });
            } else {
              await bulk.add(rowToItem(row.values, mapping, identity, row.row, gateway.validator));
            }
          }
        } catch (error) {
          await bulk.settle();
          throw error;
        }
        const result = await bulk.finish();
        gateway.metrics.count('upload', result);
        return c.json({ file_identity: identity, format, bytes, ...result }, 202);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
}
