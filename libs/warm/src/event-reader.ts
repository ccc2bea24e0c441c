import { and, asc, desc, eq, gte, lt, sql, type SQL } from 'drizzle-orm';
import { ErrorCode, TidewayError, type EventEnvelope } from '@tideway/events';
import type { WarmStore } from './db.ts';
import { events } from './schema.ts';

/** Filters of an event listing. Times are RFC 3339; `from` is inclusive, `to` exclusive. */
export interface EventFilter {
  readonly tenant: string;
  readonly type?: string;
  readonly source?: string;
  readonly subject?: string;
  readonly from?: string;
  readonly to?: string;
}

export type EventOrder = 'asc' | 'desc';

export interface EventPageRequest extends EventFilter {
  readonly order: EventOrder;
  readonly limit: number;
  /** An opaque cursor from a previous page. */
  readonly cursor?: string;
}

export interface StoredEventRow {
  readonly seq: number;
  readonly event: EventEnvelope;
}

export interface EventPage {
  readonly items: readonly StoredEventRow[];
  /** Cursor for the next page, absent on the last page. */
  readonly nextCursor?: string;
}

interface CursorState {
  /** time of the last row, as stored (ISO with microseconds). */
  t: string;
  /** seq of the last row. */
  s: number;
  /** The order the cursor was made for. */
  o: EventOrder;
}

/** Cursors are opaque to clients: base64url JSON of the last row's (time, seq) key and the order. */
export function encodeCursor(state: CursorState): string {
  return Buffer.from(JSON.stringify(state)).toString('base64url');
}

export function decodeCursor(cursor: string): CursorState {
  try {
    const state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorState>;
    if (typeof state.t !== 'string' || !/^\d{4}-\d{2}-\d{2}[ T][\d:.]+([+-][\d:]+|Z)$/.test(state.t) || typeof state.s !== 'number' || (state.o !== 'asc' && state.o !== 'desc')) {
      throw new Error('bad cursor shape');
    }
    return state as CursorState;
  } catch (cause) {
    throw new TidewayError(ErrorCode.InvalidQuery, 'cursor is not valid', { issues: [{ pointer: '/cursor', message: 'not a cursor from this API' }] }, { cause });
  }
}

function rowToEvent(row: { seq: number; attributes: unknown; data: unknown }): StoredEventRow {
  const attributes = row.attributes as Omit<EventEnvelope, 'data'>;
  return { seq: row.seq, event: (row.data === null && !('data' in attributes) ? attributes : { ...attributes, data: row.data }) };
}

/** Reads event history from the warm store with keyset pagination over (time, seq). */
export class WarmEventReader {
  constructor(private readonly store: WarmStore) {}

  async page(request: EventPageRequest): Promise<EventPage> {
    const conditions: SQL[] = [eq(events.tenant, request.tenant)];
    if (request.type) conditions.push(eq(events.type, request.type));
    if (request.source) conditions.push(eq(events.source, request.source));
    if (request.subject) conditions.push(eq(events.subject, request.subject));
    if (request.from) conditions.push(gte(events.time, request.from));
    if (request.to) conditions.push(lt(events.time, request.to));
    if (request.cursor) {
      const c = decodeCursor(request.cursor);
      if (c.o !== request.order) {
        throw new TidewayError(ErrorCode.InvalidQuery, 'cursor was made for the other order', { issues: [{ pointer: '/cursor', message: `cursor is for order=${c.o}` }] });
      }
      const after = request.order === 'asc' ? sql`(${events.time}, ${events.seq}) > (${c.t}::timestamptz, ${c.s})` : sql`(${events.time}, ${events.seq}) < (${c.t}::timestamptz, ${c.s})`;
      conditions.push(after);
    }
    const direction = request.order === 'asc' ? asc : desc;
    const rows = await this.store.db
      .select({ seq: events.seq, time: events.time, attributes: events.attributes, data: events.data })
      .from(events)
      .where(and(...conditions))
      .orderBy(direction(events.time), direction(events.seq))
      .limit(request.limit + 1);
    const hasMore = rows.length > request.limit;
    const items = rows.slice(0, request.limit);
    const last = items.at(-1);
    return {
      items: items.map(rowToEvent),
      ...(hasMore && last ? { nextCursor: encodeCursor({ t: last.time, s: last.seq, o: request.order }) } : {}),
    };
  }

  /** The event with this id in the tenant (the earliest stored, if several sources used the same id). */
  async byId(tenant: string, id: string, source?: string): Promise<StoredEventRow | undefined> {
    const conditions = [eq(events.tenant, tenant), eq(events.id, id)];
    if (source) conditions.push(eq(events.source, source));
    const [row] = await this.store.db
      .select({ seq: events.seq, attributes: events.attributes, data: events.data })
      .from(events)
      .where(and(...conditions))
      .orderBy(asc(events.seq))
      .limit(1);
    return row ? rowToEvent(row) : undefined;
  }

  /** Rows in the tenant (all tenants when omitted). */
  async count(tenant?: string): Promise<number> {
    const [row] = await this.store.db
      .select({ n: sql<number>`count(*)::int` })
      .from(events)
      .where(tenant ? eq(events.tenant, tenant) : undefined);
    return row?.n ?? 0;
  }
}
