import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import {
  FILE_FORMATS,
  fileIdentity,
  fileSize,
  formatOfFileName,
  parquetRowCount,
  fileAsyncBuffer,
  rowMappingFromText,
  rowToItem,
  rowsOfFile,
  type EventValidator,
  type FileFormat,
} from '@tideway/producers';
import type { EventInput } from '@tideway/events';

export const INGEST_USAGE = `usage: tideway ingest <file> --type <event type> [options]

Loads a CSV, NDJSON, JSON (array) or Parquet file through the gateway (POST /v1/events), in batches, with a
progress bar. Event ids derive from the file's content hash and the row number (or --id columns), so running
the same load again — after an interruption, or twice — stores every row exactly once.

  --type <t>            event type of every row (required), e.g. commerce.order.placed
  --source <uri>        CloudEvents source (default /files/<file name>)
  --format <f>          csv | ndjson | json | parquet (default: from the extension)
  --subject <col>       column holding the subject (and partition key)
  --time <col>          column holding the event time (ISO date-time, date, or unix time)
  --time-unit <s|ms>    unit of numeric times (default ms)
  --id <col[,col]>      natural-key columns to use as the id instead of the row number
  --data <rest|cols>    columns to put in data (default: the whole row)
  --cast <col:type,…>   convert cells: string | number | integer | boolean | json
  --rename <col:field,…> rename columns in data
  --delimiter <c>       CSV delimiter (default ,)
  --batch <n>           rows per request (default 500)
  --concurrency <n>     requests in flight (default 4)
  --url <url>           gateway URL (default $TIDEWAY_INGEST_URL or http://127.0.0.1:8080)
  --key <key>           API key with the ingest scope (default $TIDEWAY_API_KEY)
  --no-progress         no progress bar (a line every few seconds instead)

Rows the mapping cannot turn into an event (a bad --cast or --time cell) are reported and not sent; events the
gateway finds invalid are quarantined there (see \`tideway quarantine list\`). Exit code 1 when any row was not
stored (on the event log or in the quarantine).`;

/** Mapping only: schema validation is the gateway's, which quarantines what fails it. */
const passThrough: EventValidator = (candidate) => ({ ok: true, value: candidate as EventInput });

interface Totals {
  rows: number;
  created: number;
  duplicates: number;
  quarantined: number;
  failed: number;
}

interface Batch {
  readonly rows: number[];
  readonly events: EventInput[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `tideway ingest <file>`. */
export async function ingestCommand(
  argv: string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      type: { type: 'string' },
      source: { type: 'string' },
      format: { type: 'string' },
      subject: { type: 'string' },
      time: { type: 'string' },
      'time-unit': { type: 'string' },
      id: { type: 'string' },
      data: { type: 'string' },
      cast: { type: 'string' },
      rename: { type: 'string' },
      delimiter: { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      'no-progress': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [path] = positionals;
  if (values.help || path === undefined || values.type === undefined) {
    console.error(INGEST_USAGE);
    return values.help ? 0 : 2;
  }
  const format = (values.format ?? formatOfFileName(path)) as FileFormat | undefined;
  if (format === undefined || !FILE_FORMATS.includes(format)) {
    console.error(`tideway ingest: cannot tell the format of ${path}; pass --format ${FILE_FORMATS.join('|')}`);
    return 2;
  }
  const mapping = rowMappingFromText(
    {
      type: values.type,
      source: values.source,
      subject: values.subject,
      time: values.time,
      timeUnit: values['time-unit'],
      id: values.id,
      data: values.data,
      cast: values.cast,
      rename: values.rename,
    },
    path,
  );
  const url = (values.url ?? env['TIDEWAY_INGEST_URL'] ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const key = values.key ?? env['TIDEWAY_API_KEY'];
  const batchSize = Math.max(1, Number(values.batch ?? 500));
  const concurrency = Math.max(1, Number(values.concurrency ?? 4));
  const interactive = !values['no-progress'] && process.stderr.isTTY;

  const identity = await fileIdentity(path);
  const size = await fileSize(path);
  let total = size;
  if (format === 'parquet') {
    const file = await fileAsyncBuffer(path);
    try {
      total = await parquetRowCount(file);
    } finally {
      await file.close();
    }
  }
  const unit = format === 'parquet' ? 'rows' : 'bytes';
  const totals: Totals = { rows: 0, created: 0, duplicates: 0, quarantined: 0, failed: 0 };
  const problems: string[] = [];
  let bytesRead = 0;
  const started = Date.now();

  const bar = interactive
    ? new cliProgress.SingleBar(
        {
          format: `${basename(path)} [{bar}] {percentage}% | {rows} rows | {created} new {duplicates} dup {quarantined} quarantined {failed} failed | {rate} rows/s`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const payload = () => ({ ...totals, rate: Math.round(totals.rows / Math.max(0.001, (Date.now() - started) / 1000)) });
  bar?.start(total, 0, payload());
  let lastLine = 0;
  const progress = (): void => {
    const done = format === 'parquet' ? totals.rows : bytesRead;
    if (bar) bar.update(done, payload());
    else if (Date.now() - lastLine > 2000) {
      lastLine = Date.now();
      console.error(
        `${basename(path)}: ${Math.floor((100 * done) / Math.max(1, total))}% ${JSON.stringify(payload())}`,
      );
    }
  };

  const send = async (batch: Batch): Promise<void> => {
    let events = batch.events;
    let rows = batch.rows;
    for (let attempt = 1; events.length > 0; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: JSON.stringify(events),
        });
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(Math.min(250 * attempt, 5_000));
        continue;
      }
      const body = (await response.json().catch(() => ({}))) as {
        created?: number;
        duplicates?: number;
        quarantined?: number;
        issues?: { index?: number; message: string }[];
        detail?: string;
      };
      if (response.status === 202 || response.status === 422) {
        totals.created += body.created ?? 0;
        totals.duplicates += body.duplicates ?? 0;
        totals.quarantined += body.quarantined ?? (response.status === 422 ? events.length : 0);
        return;
      }
      if (response.status === 429 || response.status === 503) {
        await sleep(Number(response.headers.get('retry-after') ?? '1') * 1000);
        continue;
      }
      if (response.status === 413 && body.issues?.some((i) => i.index !== undefined)) {
        // Events over the size limit: report them and send the rest.
        const tooLarge = new Set(body.issues.map((i) => i.index));
        for (const index of tooLarge) problems.push(`row ${rows[index!] ?? '?'}: too large for the gateway`);
        totals.failed += tooLarge.size;
        events = events.filter((_, i) => !tooLarge.has(i));
        rows = rows.filter((_, i) => !tooLarge.has(i));
        continue;
      }
      throw new Error(`the gateway answered ${response.status}: ${body.detail ?? JSON.stringify(body)}`);
    }
  };

  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;
  const dispatch = async (batch: Batch): Promise<void> => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    const task = send(batch)
      .catch((error: unknown) => {
        failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => {
        inFlight.delete(task);
        progress();
      });
    inFlight.add(task);
  };

  let pending: Batch = { rows: [], events: [] };
  try {
    for await (const row of rowsOfFile(path, format, {
      ...(values.delimiter ? { delimiter: values.delimiter } : {}),
      onBytes: (n) => (bytesRead = n),
    })) {
      totals.rows++;
      if ('error' in row) {
        totals.failed++;
        problems.push(`row ${row.row}: ${row.error}`);
        continue;
      }
      const item = rowToItem(row.values, mapping, identity, row.row, passThrough);
      if (!item.ok) {
        totals.failed++;
        problems.push(`row ${row.row}: ${item.issues.map((i) => i.message).join('; ')}`);
        continue;
      }
      pending.rows.push(row.row);
      pending.events.push(item.event);
      if (pending.events.length >= batchSize) {
        await dispatch(pending);
        pending = { rows: [], events: [] };
      }
    }
    if (pending.events.length > 0) await dispatch(pending);
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
  } catch (error) {
    bar?.stop();
    console.error(`tideway ingest: ${(error as Error).message}`);
    console.error(
      `stopped after ${totals.rows} rows; run the same command again to resume (stored rows are de-duplicated)`,
    );
    return 1;
  }
  bar?.update(total, payload());
  bar?.stop();
  for (const problem of problems.slice(0, 20)) console.error(`  ${problem}`);
  if (problems.length > 20) console.error(`  … and ${problems.length - 20} more`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `${path}: ${totals.rows} rows in ${seconds} s — ${totals.created} created, ${totals.duplicates} duplicates, ${totals.quarantined} quarantined, ${totals.failed} not stored (file ${identity}, ${unit === 'bytes' ? `${size} bytes` : `${total} rows`})`,
  );
  return totals.failed > 0 ? 1 : 0;
}
