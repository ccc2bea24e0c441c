import { createRoute, z } from '@hono/zod-openapi';
import { ParquetWriter, ByteWriter } from 'hyparquet-writer';
import type { EventEnvelope } from '@tideway/events';
import type { EventSearchFilter } from '@tideway/event-query';
import { cacheControl, consistentRead, tenantOf } from '../context.ts';
import type { QueryDeps } from '../deps.ts';
import { checkRange, commonQuery, createApi, problemResponses, rfc3339 } from '../openapi.ts';
import { eventFilterQuery, predicatesOf, predicatesParameter, withPredicates } from './events.ts';

type Row = { seq: number; event: EventEnvelope };

/** Export columns: the envelope's common attributes, then the payload as JSON text. */
const COLUMNS = ['seq', 'id', 'time', 'type', 'source', 'subject', 'tenant', 'recordedtime', 'partitionkey', 'data'] as const;

function cell(row: Row, column: (typeof COLUMNS)[number]): string | number | null {
  if (column === 'seq') return row.seq;
  if (column === 'data') return row.event.data === undefined ? null : JSON.stringify(row.event.data);
  return (row.event[column]) ?? null;
}

/** RFC 4180: quote a field holding a comma, quote, CR or LF, doubling the quotes. */
function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const encoder = new TextEncoder();

/** Rows per NDJSON/CSV chunk and per Parquet row group. */
const CHUNK_ROWS = 500;
const ROW_GROUP_ROWS = 10_000;

/**
 * A pull-based body: the next chunk is produced only when the client has taken the previous one, so an export
 * holds one chunk (one Parquet row group) in memory however large the range.
 */
function pullBody(chunks: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await chunks.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (error) {
          controller.error(error);
        }
      },
      async cancel() {
        await chunks.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

async function* ndjson(rows: AsyncIterable<Row>): AsyncGenerator<Uint8Array> {
  let lines: string[] = [];
  for await (const row of rows) {
    lines.push(JSON.stringify({ seq: row.seq, event: row.event }));
    if (lines.length >= CHUNK_ROWS) {
      yield encoder.encode(lines.join('\n') + '\n');
      lines = [];
    }
  }
  if (lines.length > 0) yield encoder.encode(lines.join('\n') + '\n');
}

async function* csv(rows: AsyncIterable<Row>): AsyncGenerator<Uint8Array> {
  let lines: string[] = [COLUMNS.join(',')];
  for await (const row of rows) {
    lines.push(COLUMNS.map((c) => csvField(cell(row, c))).join(','));
    if (lines.length >= CHUNK_ROWS) {
      yield encoder.encode(lines.join('\r\n') + '\r\n');
      lines = [];
    }
  }
  if (lines.length > 0) yield encoder.encode(lines.join('\r\n') + '\r\n');
}

/**
 * Parquet, one row group per {@link ROW_GROUP_ROWS} rows: hyparquet-writer's incremental `ParquetWriter`
 * writes into a byte buffer that is handed out and emptied after every row group (`flush`), while offsets in
 * the footer stay absolute.
 */
async function* parquet(rows: AsyncIterable<Row>): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const writer = new ByteWriter();
  const take = (): void => {
    if (writer.index > 0) out.push(new Uint8Array(writer.buffer.slice(0, writer.index)));
    writer.index = 0;
  };
  (writer as ByteWriter & { flush: () => void }).flush = take;
  const schema = [
    { name: 'root', num_children: COLUMNS.length },
    { name: 'seq', type: 'INT64' as const, repetition_type: 'REQUIRED' as const },
    ...COLUMNS.slice(1, -1).map((name) => ({ name, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'OPTIONAL' as const })),
    { name: 'data', type: 'BYTE_ARRAY' as const, converted_type: 'JSON' as const, repetition_type: 'OPTIONAL' as const },
  ];
  const parquetWriter = new ParquetWriter({ writer, schema, codec: 'SNAPPY', createdBy: 'tideway query export' });
  const drain = function* (): Generator<Uint8Array> {
    take();
    while (out.length > 0) yield out.shift()!;
  };
  yield* drain(); // the magic header
  let batch: Row[] = [];
  const writeBatch = async (): Promise<void> => {
    const columnData = COLUMNS.map((column) => ({
      name: column,
      // The JSON column takes the payload itself: the writer serialises it once.
      data: column === 'seq' ? batch.map((r) => BigInt(r.seq)) : column === 'data' ? batch.map((r) => r.event.data ?? null) : batch.map((r) => cell(r, column)),
    }));
    await parquetWriter.write({ columnData, rowGroupSize: batch.length });
    batch = [];
  };
  for await (const row of rows) {
    batch.push(row);
    if (batch.length >= ROW_GROUP_ROWS) {
      await writeBatch();
      yield* drain();
    }
  }
  if (batch.length > 0) await writeBatch();
  await parquetWriter.finish();
  yield* drain();
}

const FORMATS = {
  ndjson: { type: 'application/x-ndjson', extension: 'ndjson', encode: ndjson },
  csv: { type: 'text/csv; charset=utf-8', extension: 'csv', encode: csv },
  parquet: { type: 'application/vnd.apache.parquet', extension: 'parquet', encode: parquet },
} as const;

/** `GET /v1/exports/events`: a filtered range as a streamed NDJSON, CSV or Parquet download. */
export function exportRoutes(deps: QueryDeps) {
  const { config } = deps;
  const api = createApi();

  const route = createRoute({
    method: 'get',
    path: '/v1/exports/events',
    operationId: 'exportEvents',
    tags: ['exports'],
    summary: 'Download events as NDJSON, CSV or Parquet',
    description:
      'Every matching event of a bounded range, oldest first, streamed from a PostgreSQL cursor (and the cold archive) without loading the range into memory. `from` and `to` are required.',
    request: {
      query: withPredicates({
        ...commonQuery,
        ...eventFilterQuery,
        from: rfc3339,
        to: rfc3339,
        format: z.enum(['ndjson', 'csv', 'parquet']).default('ndjson'),
      }),
    },
    parameters: [predicatesParameter],
    responses: {
      200: {
        description: 'The export (`Content-Disposition: attachment`)',
        headers: z.object({ 'Tideway-Seq': z.string() }),
        content: {
          'application/x-ndjson': { schema: z.string().openapi({ description: 'One `{"seq","event"}` object per line' }) },
          'text/csv': { schema: z.string().openapi({ description: `Header row ${COLUMNS.join(',')}; data as JSON text` }) },
          'application/vnd.apache.parquet': { schema: z.string().openapi({ format: 'binary' }) },
        },
      },
      ...problemResponses,
    },
  });

  api.openapi(route, async (c) => {
    const q = c.req.valid('query');
    checkRange(q.from, q.to, config.QUERY_MAX_RANGE_DAYS);
    const tenant = tenantOf(c, q.tenant, config.QUERY_DEFAULT_TENANT);
    const predicates = predicatesOf(q);
    const position = await consistentRead(c, deps.clocks.warm, q.min_seq, config.QUERY_MIN_SEQ_WAIT_MS);
    const filter: EventSearchFilter = {
      tenant,
      from: q.from,
      to: q.to,
      ...(q.type === undefined ? {} : { type: q.type }),
      ...(q.source === undefined ? {} : { source: q.source }),
      ...(q.subject === undefined ? {} : { subject: q.subject }),
      ...(predicates && predicates.length > 0 ? { predicates } : {}),
    };
    const format = FORMATS[q.format];
    cacheControl(c, q.to, position, config.QUERY_SETTLE_MS);
    const rows = deps.search.iterate(filter, 'asc', 1000) as AsyncIterable<Row>;
    const name = `events-${tenant}-${q.from.slice(0, 19).replaceAll(':', '')}-${q.to.slice(0, 19).replaceAll(':', '')}.${format.extension}`;
    return new Response(pullBody(format.encode(rows)), {
      status: 200,
      headers: {
        'content-type': format.type,
        'content-disposition': `attachment; filename="${name}"`,
        'tideway-seq': String(position.seq),
        'cache-control': c.res.headers.get('cache-control') ?? 'private, no-cache',
        vary: 'Authorization, Accept-Encoding',
      },
    });
  });

  return api;
}
