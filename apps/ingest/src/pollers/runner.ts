import type { KV } from '@nats-io/kv';
import postgres from 'postgres';
import { isTidewayError } from '@tideway/events';
import { parseDateTime, readPointer, rowToItem, type EventValidator, type ParsedItem } from '@tideway/producers';
import type { Logger } from '@tideway/service';
import type { HttpPollerConfig, PollerConfig, PostgresPollerConfig } from './config.ts';

/** Where a poller stands, kept in JetStream KV under its name. */
export interface PollerCursor {
  /** The last cursor value read (text, as the source gave it). */
  readonly cursor?: string;
  /** Postgres: the key of the last row read (the tie-breaker). */
  readonly key?: string;
  /** HTTP: the ETag of the last response for the current cursor. */
  readonly etag?: string;
  readonly updated_at?: string;
}

/** One page of new records and the cursor after them. */
interface Page {
  readonly items: ParsedItem[];
  readonly next: PollerCursor;
  /** True when the source may hold more right away (a full page). */
  readonly more: boolean;
}

/** Publishes a page; resolves once every item is stored (on the event log or in the quarantine). */
export type PollSink = (poller: PollerConfig, items: readonly ParsedItem[]) => Promise<void>;

function sourceOf(config: PollerConfig): string {
  return config.source ?? `/pollers/${config.name}`;
}

const quote = (identifier: string): string => `"${identifier}"`;

/** Reads a PostgreSQL table page by page after the last (cursor, key). */
class PostgresSource {
  private readonly sql: postgres.Sql;
  /** SQL types of the cursor and key columns, for typed comparisons with the stored (text) cursor. */
  private types: { cursor: string; key: string } | undefined;
  constructor(
    private readonly config: PostgresPollerConfig,
    defaults: { url: string; schema: string },
    private readonly validate: EventValidator,
  ) {
    this.sql = postgres(config.url ?? defaults.url, {
      max: 1,
      onnotice: () => {},
      connection: { search_path: config.schema ?? defaults.schema, application_name: `tideway-poller-${config.name}` },
    });
  }

  async page(at: PollerCursor): Promise<Page> {
    const c = this.config;
    const table = c.schema ? `${quote(c.schema)}.${quote(c.table)}` : quote(c.table);
    const select = c.columns
      ? [
          ...new Set([
            ...c.columns,
            c.keyColumn,
            c.cursorColumn,
            ...(c.subjectColumn ? [c.subjectColumn] : []),
            ...(c.timeColumn ? [c.timeColumn] : []),
          ]),
        ]
          .map(quote)
          .join(', ')
      : '*';
    const order = `${quote(c.cursorColumn)}, ${quote(c.keyColumn)}`;
    this.types ??= await this.columnTypes(table);
    const head = `select ${select}, ${quote(c.cursorColumn)}::text as "__tw_cursor", ${quote(c.keyColumn)}::text as "__tw_key" from ${table}`;
    const rows =
      at.cursor === undefined
        ? await this.sql.unsafe(`${head} order by ${order} limit ${c.batchSize}`)
        : await this.sql.unsafe(
            // Text parameters cast in SQL: a timestamp parameter would pass through a JS Date and lose its microseconds.
            `${head} where (${order}) > (($1::text)::${this.types.cursor}, ($2::text)::${this.types.key}) order by ${order} limit ${c.batchSize}`,
            [at.cursor, at.key ?? ''],
          );
    const mapping = {
      type: c.type,
      source: sourceOf(c),
      idColumns: [c.keyColumn],
      ...(c.subjectColumn ? { subject: c.subjectColumn } : {}),
      ...(c.timeColumn ? { time: c.timeColumn } : {}),
      ...(c.columns ? { data: c.columns } : {}),
    };
    const items = rows.map((row, i) => {
      const { __tw_cursor: _c, __tw_key: _k, ...values } = row as Record<string, unknown>;
      return rowToItem(values, mapping, c.name, i, this.validate);
    });
    const last = rows.at(-1) as { __tw_cursor: string; __tw_key: string } | undefined;
    return {
      items,
      next: last === undefined ? at : { cursor: last.__tw_cursor, key: last.__tw_key },
      more: rows.length === c.batchSize,
    };
  }

  private async columnTypes(table: string): Promise<{ cursor: string; key: string }> {
    const rows = await this.sql<{ name: string; type: string }[]>`
      select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
      from pg_attribute a
      where a.attrelid = ${table}::regclass and a.attname in (${this.config.cursorColumn}, ${this.config.keyColumn}) and not a.attisdropped`;
    const typeOf = (column: string): string => {
      const type = rows.find((r) => r.name === column)?.type;
      if (type === undefined) throw new Error(`poller ${this.config.name}: no column ${column} in ${table}`);
      return type;
    };
    return { cursor: typeOf(this.config.cursorColumn), key: typeOf(this.config.keyColumn) };
  }

  close(): Promise<void> {
    return this.sql.end({ timeout: 5 });
  }
}

/** Reads an HTTP JSON API: ETag for "nothing new", a cursor parameter for incremental pages. */
class HttpSource {
  constructor(
    private readonly config: HttpPollerConfig,
    private readonly validate: EventValidator,
  ) {}

  async page(at: PollerCursor): Promise<Page> {
    const c = this.config;
    const url = new URL(c.url);
    if (c.cursor && at.cursor !== undefined) url.searchParams.set(c.cursor.param, at.cursor);
    const headers: Record<string, string> = { accept: 'application/json', ...c.headers };
    if (c.etag && at.etag !== undefined) headers['if-none-match'] = at.etag;
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
    if (response.status === 304) {
      await response.body?.cancel();
      return { items: [], next: at, more: false };
    }
    if (!response.ok) throw new Error(`${url.origin}${url.pathname} answered ${response.status}`);
    const body = await response.json();
    const records = readPointer(body, c.itemsPointer);
    if (!Array.isArray(records)) throw new Error(`no array at ${c.itemsPointer || '/'} of the response`);
    const etag = response.headers.get('etag') ?? undefined;
    const items = records.map((record: unknown, index): ParsedItem => {
      const id = readPointer(record, c.idPointer);
      const subject = c.subjectPointer === undefined ? undefined : readPointer(record, c.subjectPointer);
      const timeValue = c.timePointer === undefined ? undefined : readPointer(record, c.timePointer);
      const time =
        typeof timeValue === 'string'
          ? parseDateTime(timeValue)?.toISOString()
          : typeof timeValue === 'number'
            ? new Date(timeValue).toISOString()
            : undefined;
      const candidate = {
        specversion: '1.0',
        ...(typeof id === 'string' || typeof id === 'number' ? { id: String(id) } : {}),
        source: sourceOf(c),
        type: c.type,
        ...(typeof subject === 'string' || typeof subject === 'number' ? { subject: String(subject) } : {}),
        ...(time === undefined ? {} : { time }),
        datacontenttype: 'application/json',
        data: record,
      };
      const original = { payload: JSON.stringify(record) ?? 'null', contentType: 'application/json' };
      if (candidate.id === undefined) {
        return {
          index,
          ok: false,
          issues: [{ index, pointer: `/${index}${c.idPointer}`, message: 'the record has no id' }],
          original,
          reason: 'envelope',
        };
      }
      const result = this.validate(candidate, index);
      const version = result.schemaVersion === undefined ? {} : { schemaVersion: result.schemaVersion };
      return result.ok
        ? { index, ok: true, event: result.value, ...version }
        : { index, ok: false, issues: result.issues, original, reason: result.reason ?? 'envelope', ...version };
    });
    let cursor = at.cursor;
    if (c.cursor && records.length > 0) {
      const next = readPointer(c.cursor.from === 'response' ? body : records.at(-1), c.cursor.pointer);
      if (typeof next === 'string' || typeof next === 'number') cursor = String(next);
    }
    const advanced = cursor !== at.cursor;
    return {
      items,
      // A new cursor means a new URL, whose ETag is not known yet.
      next: { ...(cursor === undefined ? {} : { cursor }), ...(!advanced && etag !== undefined ? { etag } : {}) },
      more: advanced && records.length > 0,
    };
  }

  async close(): Promise<void> {}
}

/** Options of {@link PollerRunner}. */
export interface PollerRunnerOptions {
  readonly pollers: readonly PollerConfig[];
  /** Who this runner is (in the lease records); a random id by default. */
  readonly instance?: string;
  /** Cursors, keyed by poller name. */
  readonly cursors: KV;
  readonly sink: PollSink;
  readonly validate: EventValidator;
  readonly database: { url: string; schema: string };
  readonly logger: Logger;
}

/**
 * Runs the configured pollers. Each cycle reads a page after the stored cursor, publishes it (waiting for every
 * ack), then stores the new cursor in JetStream KV. A crash between publishing and storing the cursor re-reads the
 * page, whose events have deterministic ids (the poller's source and the record's key), so JetStream's
 * de-duplication drops the repeats: a restart neither skips nor repeats a record.
 */
export class PollerRunner {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();
  private readonly sources: (PostgresSource | HttpSource)[] = [];
  /** Records published per poller since start. */
  readonly published = new Map<string, number>();
  private readonly instance: string;

  constructor(private readonly options: PollerRunnerOptions) {
    this.instance = options.instance ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  }

  /**
   * Holds the poller's lease (`lease.<name>` in the cursor bucket) so that one replica polls each source: taken when
   * absent, expired or already ours, with compare-and-set on the entry's revision; it lasts three intervals (at
   * least 15 s), so a crashed holder's source is picked up by another replica after that.
   */
  private async lease(config: PollerConfig): Promise<boolean> {
    const { cursors } = this.options;
    const key = `lease.${config.name}`;
    const now = Date.now();
    const record = JSON.stringify({ holder: this.instance, until: now + Math.max(15_000, config.intervalMs * 3) });
    const entry = await cursors.get(key);
    try {
      if (entry === null || entry.operation !== 'PUT') {
        await cursors.create(key, record);
        return true;
      }
      const current = entry.json<{ holder: string; until: number }>();
      if (current.holder !== this.instance && current.until > now) return false;
      await cursors.update(key, record, entry.revision);
      return true;
    } catch {
      return false; // another replica won the race
    }
  }

  start(): void {
    for (const config of this.options.pollers) {
      const source =
        config.kind === 'postgres'
          ? new PostgresSource(config, this.options.database, this.options.validate)
          : new HttpSource(config, this.options.validate);
      this.sources.push(source);
      this.loops.push(this.run(config, source));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private async run(config: PollerConfig, source: PostgresSource | HttpSource): Promise<void> {
    const { cursors, sink, logger } = this.options;
    let failures = 0;
    while (!this.stopping) {
      try {
        if (!(await this.lease(config))) {
          await this.sleep(config.intervalMs);
          continue;
        }
        const entry = await cursors.get(config.name);
        const at = entry === null || entry.operation !== 'PUT' ? {} : entry.json<PollerCursor>();
        const page = await source.page(at);
        if (page.items.length > 0) {
          await sink(config, page.items);
          this.published.set(config.name, (this.published.get(config.name) ?? 0) + page.items.length);
        }
        if (
          JSON.stringify({ ...page.next, updated_at: undefined }) !== JSON.stringify({ ...at, updated_at: undefined })
        ) {
          await cursors.put(config.name, JSON.stringify({ ...page.next, updated_at: new Date().toISOString() }));
        }
        failures = 0;
        if (!page.more) await this.sleep(config.intervalMs);
      } catch (error) {
        failures++;
        const wait = Math.min(250 * 2 ** Math.min(failures, 6), 15_000);
        logger[isTidewayError(error) ? 'warn' : 'error'](
          { err: error, poller: config.name, retryInMs: wait },
          'poll failed',
        );
        await this.sleep(wait);
      }
    }
  }

  /** Stops polling after the page in progress (its cursor is stored, or it is re-read on the next start). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of this.wakers) wake();
    await Promise.all(this.loops);
    await Promise.all(this.sources.map((s) => s.close()));
  }
}
