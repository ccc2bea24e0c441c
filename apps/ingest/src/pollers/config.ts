import { z } from 'zod';
import { EventTypeSchema, TenantSchema } from '@tideway/events';

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain SQL identifier');
const pointer = z.string().regex(/^(\/.*)?$/, 'must be a JSON pointer ("/a/b", or "" for the whole value)');

const common = {
  /** Unique name: the key of the poller's cursor, the default `source`, and part of each event id. */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'name must be 1-63 chars of [a-z0-9_-]'),
  /** Tenant of the events. */
  tenant: TenantSchema.default('default'),
  /** Event type of every polled record. */
  type: EventTypeSchema,
  /** CloudEvents `source`; default `/pollers/<name>`. */
  source: z.string().min(1).max(512).optional(),
  /** Pause between polls once caught up. */
  intervalMs: z.number().int().min(10).default(5_000),
  /** Records per page. */
  batchSize: z.number().int().min(1).max(5_000).default(500),
};

/**
 * A PostgreSQL table read incrementally by a cursor column (the JDBC-style batch extract): each poll selects the rows
 * after the last (cursor, key) seen, in that order. The cursor must only grow for new rows (a serial id, an
 * insertion timestamp); `keyColumn` breaks ties between rows with the same cursor value.
 */
export const PostgresPollerSchema = z
  .object({
    ...common,
    kind: z.literal('postgres'),
    /** Connection URL; the gateway's DATABASE_URL when omitted. */
    url: z.string().optional(),
    /** Schema of the table; the connection's search_path when omitted. */
    schema: identifier.optional(),
    table: identifier,
    cursorColumn: identifier,
    /** A unique column: the event id and the tie-breaker. */
    keyColumn: identifier,
    subjectColumn: identifier.optional(),
    timeColumn: identifier.optional(),
    /** Columns to put in `data`; every column when omitted. */
    columns: z.array(identifier).min(1).optional(),
  })
  .strict();

/**
 * An HTTP JSON API polled on an interval. Each poll sends `If-None-Match` with the last ETag (a 304 means nothing
 * new) and, when `cursor` is set, the last cursor as a query parameter, then pages until a page is empty.
 */
export const HttpPollerSchema = z
  .object({
    ...common,
    kind: z.literal('http'),
    url: z.url(),
    headers: z.record(z.string(), z.string()).optional(),
    /** Where the records are in the response body; `""` when the body is the array. */
    itemsPointer: pointer.default(''),
    /** Where a record's unique id is (the event id). */
    idPointer: pointer,
    subjectPointer: pointer.optional(),
    timePointer: pointer.optional(),
    /**
     * Incremental reads: the query parameter carrying the cursor, and where the next cursor is — in the response
     * body (`from: 'response'`, e.g. `/next_cursor`) or in the last record (`from: 'item'`, e.g. `/updated_at`).
     */
    cursor: z
      .object({ param: z.string().min(1), from: z.enum(['response', 'item']), pointer })
      .strict()
      .optional(),
    /** Send If-None-Match with the last ETag. Default true. */
    etag: z.boolean().default(true),
  })
  .strict();

export const PollerConfigSchema = z.discriminatedUnion('kind', [PostgresPollerSchema, HttpPollerSchema]);
export type PollerConfig = z.infer<typeof PollerConfigSchema>;
export type PostgresPollerConfig = z.infer<typeof PostgresPollerSchema>;
export type HttpPollerConfig = z.infer<typeof HttpPollerSchema>;
