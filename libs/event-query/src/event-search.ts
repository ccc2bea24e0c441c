import type postgres from 'postgres';
import { ErrorCode, TidewayError, type EventEnvelope } from '@tideway/events';
import type { WarmStore } from '@tideway/warm';
import { mergeSorted, type ColdEventSource, type EventRow } from './cold.ts';
import { decodeEventCursor, encodeEventCursor, type EventKey, type EventOrder } from './cursor.ts';
import { matchesPredicate, type PayloadPredicate } from './predicates.ts';
import { TIME_KEY, and, predicateSql, type Fragment } from './sql.ts';

/** Which events: one tenant, optional attribute filters, payload predicates, an event-time range. */
export interface EventSearchFilter {
  readonly tenant: string;
  readonly type?: string;
  readonly source?: string;
  readonly subject?: string;
  /** Only events about this entity (warm only: the archive keeps no entity columns). */
  readonly entity?: { readonly type: string; readonly id: string };
  readonly predicates?: readonly PayloadPredicate[];
  /** Event time lower bound, inclusive (RFC 3339). */
  readonly from?: string;
  /** Event time upper bound, exclusive (RFC 3339). */
  readonly to?: string;
}

export interface EventSearchPage {
  readonly items: readonly { readonly seq: number; readonly event: EventEnvelope }[];
  /** The page after this one in the listing's order, absent when none follows yet. */
  readonly nextCursor?: string;
  /** The page before this one, absent on the first page. */
  readonly prevCursor?: string;
}

interface WarmRow {
  seq: string;
  t: string;
  attributes: Omit<EventEnvelope, 'data'>;
  data: unknown;
}

function toEventRow(row: WarmRow): EventRow {
  const event = (row.data === null && !('data' in row.attributes) ? row.attributes : { ...row.attributes, data: row.data }) as EventEnvelope;
  return { t: row.t, s: Number(row.seq), event };
}

const flip = (order: EventOrder): EventOrder => (order === 'asc' ? 'desc' : 'asc');

/**
 * Event history for the query API: the warm store (PostgreSQL) merged with the cold archive when one is wired,
 * filtered by attributes and payload predicates, in (time, seq) order with opaque keyset cursors both ways.
 *
 * Keyset pagination means a walk never skips or repeats a row, even while new events are being written: each
 * page continues strictly after the (time, seq) key of the previous page's edge.
 */
export class EventSearch {
  private readonly sql: postgres.Sql;

  constructor(
    store: WarmStore,
    private readonly cold?: ColdEventSource,
  ) {
    this.sql = store.sql;
  }

  /**
   * One page. Without a cursor it starts at the range edge of `order`; a `next` cursor continues after the edge
   * of the page it came from, a `prev` cursor returns the rows just before it (still in `order`).
   */
  async page(filter: EventSearchFilter, options: { order: EventOrder; limit: number; cursor?: string }): Promise<EventSearchPage> {
    const cursor = options.cursor === undefined ? undefined : decodeEventCursor(options.cursor);
    if (cursor && cursor.o !== options.order) {
      throw new TidewayError(ErrorCode.InvalidQuery, 'cursor was made for the other order', { issues: [{ pointer: '/cursor', message: `cursor is for order=${cursor.o}` }] });
    }
    const backwards = cursor?.d === 'prev';
    const scan = backwards ? flip(options.order) : options.order;
    const rows: EventRow[] = [];
    for await (const row of this.rows(filter, scan, cursor, options.limit + 1, options.limit + 1)) rows.push(row);
    const more = rows.length > options.limit;
    const items = rows.slice(0, options.limit);
    if (backwards) items.reverse();
    const first = items[0];
    const last = items.at(-1);
    const cursorAt = (key: EventKey, d: 'next' | 'prev'): string => encodeEventCursor({ t: key.t, s: key.s, d, o: options.order });
    let nextCursor: string | undefined;
    let prevCursor: string | undefined;
    if (backwards) {
      // Coming back from a later page: the page after this one is where we came from.
      nextCursor = last ? cursorAt(last, 'next') : cursor ? encodeEventCursor({ ...cursor, d: 'next' }) : undefined;
      if (more && first) prevCursor = cursorAt(first, 'prev');
    } else {
      if (more && last) nextCursor = cursorAt(last, 'next');
      if (cursor) prevCursor = first ? cursorAt(first, 'prev') : encodeEventCursor({ ...cursor, d: 'prev' });
    }
    return {
      items: items.map((r) => ({ seq: r.s, event: r.event })),
      ...(nextCursor ? { nextCursor } : {}),
      ...(prevCursor ? { prevCursor } : {}),
    };
  }

  /**
   * Every matching event in `order`, streamed: PostgreSQL rows come through a server-side cursor in batches and
   * archived rows from the cold source, so memory stays bounded whatever the range holds.
   */
  async *iterate(filter: EventSearchFilter, order: EventOrder = 'asc', batchSize = 1000): AsyncGenerator<{ seq: number; event: EventEnvelope }> {
    for await (const row of this.rows(filter, order, undefined, undefined, batchSize)) yield { seq: row.s, event: row.event };
  }

  /** The event with this id in the tenant (the earliest stored, if several sources used the same id). */
  async byId(tenant: string, id: string, source?: string): Promise<{ seq: number; event: EventEnvelope } | undefined> {
    const { sql } = this;
    const [row] = await sql<WarmRow[]>`
      select seq, ${sql.unsafe(TIME_KEY)} as t, attributes, data from events
      where tenant = ${tenant} and id = ${id} ${source === undefined ? sql`` : sql`and source = ${source}`}
      order by seq limit 1`;
    if (row) {
      const r = toEventRow(row);
      return { seq: r.s, event: r.event };
    }
    return undefined;
  }

  private async *rows(filter: EventSearchFilter, order: EventOrder, after: EventKey | undefined, limit: number | undefined, batchSize: number): AsyncGenerator<EventRow> {
    const warm = this.warmRows(filter, order, after, limit, batchSize);
    const useCold = this.cold !== undefined && filter.entity === undefined;
    const source = useCold ? mergeSorted(warm, this.coldRows(filter, order, after), order) : warm;
    let n = 0;
    for await (const row of source) {
      yield row;
      if (limit !== undefined && ++n >= limit) return;
    }
  }

  private async *warmRows(filter: EventSearchFilter, order: EventOrder, after: EventKey | undefined, limit: number | undefined, batchSize: number): AsyncGenerator<EventRow> {
    const { sql } = this;
    const conditions: Fragment[] = [sql`tenant = ${filter.tenant}`];
    if (filter.type !== undefined) conditions.push(sql`type = ${filter.type}`);
    if (filter.source !== undefined) conditions.push(sql`source = ${filter.source}`);
    if (filter.subject !== undefined) conditions.push(sql`subject = ${filter.subject}`);
    if (filter.entity !== undefined) conditions.push(sql`entity_type = ${filter.entity.type} and entity_id = ${filter.entity.id}`);
    if (filter.from !== undefined) conditions.push(sql`time >= ${filter.from}::timestamptz`);
    if (filter.to !== undefined) conditions.push(sql`time < ${filter.to}::timestamptz`);
    for (const p of filter.predicates ?? []) conditions.push(predicateSql(sql, p));
    if (after !== undefined) {
      conditions.push(order === 'asc' ? sql`(time, seq) > (${after.t}::timestamptz, ${after.s})` : sql`(time, seq) < (${after.t}::timestamptz, ${after.s})`);
    }
    const direction = sql.unsafe(order === 'asc' ? 'asc' : 'desc');
    const query = sql<WarmRow[]>`
      select seq, ${sql.unsafe(TIME_KEY)} as t, attributes, data from events
      where ${and(sql, conditions)}
      order by time ${direction}, seq ${direction}
      ${limit === undefined ? sql`` : sql`limit ${limit}`}`;
    if (limit !== undefined) {
      for (const row of await query) yield toEventRow(row);
      return;
    }
    for await (const batch of query.cursor(batchSize)) for (const row of batch) yield toEventRow(row);
  }

  private async *coldRows(filter: EventSearchFilter, order: EventOrder, after: EventKey | undefined): AsyncGenerator<EventRow> {
    const rows = this.cold!.read({
      tenant: filter.tenant,
      order,
      ...(filter.type === undefined ? {} : { type: filter.type }),
      ...(filter.from === undefined ? {} : { from: filter.from }),
      ...(filter.to === undefined ? {} : { to: filter.to }),
      ...(after === undefined ? {} : { after }),
    });
    for await (const row of rows) {
      const e = row.event;
      if (e.tenant !== filter.tenant) continue;
      if (filter.type !== undefined && e.type !== filter.type) continue;
      if (filter.source !== undefined && e.source !== filter.source) continue;
      if (filter.subject !== undefined && e.subject !== filter.subject) continue;
      if (filter.predicates !== undefined && !filter.predicates.every((p) => matchesPredicate(e.data, p))) continue;
      yield row;
    }
  }
}
