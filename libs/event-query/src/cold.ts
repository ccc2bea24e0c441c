import type { EventEnvelope } from '@tideway/events';
import { compareKeys, type EventKey, type EventOrder } from './cursor.ts';

/** An event read back from any tier, with its (time, seq) key. */
export interface EventRow extends EventKey {
  readonly event: EventEnvelope;
}

/** What the query asks of the cold archive: one tenant (and type), a time range, an order and a start key. */
export interface ColdEventQuery {
  readonly tenant: string;
  readonly type?: string;
  /** Event time lower bound, inclusive (RFC 3339). */
  readonly from?: string;
  /** Event time upper bound, exclusive (RFC 3339). */
  readonly to?: string;
  readonly order: EventOrder;
  /** Only rows strictly after this key in `order`. */
  readonly after?: EventKey;
}

/**
 * The seam to the cold archive (`@tideway/cold`): archived events of a tenant/type/time range as a bounded async
 * iterable in (time, seq) order, pruned with the manifest so that a range the archive does not cover costs one
 * manifest lookup and no object read. The query layer merges it with the warm store and drops rows both tiers
 * hold (an event is in both while tiering moves it), so a reader never sees a tier boundary.
 *
 * Filters beyond tenant, type and time (source, subject, payload predicates) are applied by the caller.
 */
export interface ColdEventSource {
  read(query: ColdEventQuery): AsyncIterable<EventRow>;
}

/**
 * Merges two iterables sorted in `order` by (time, seq) into one, dropping a row whose key equals the previous
 * one (the same event from both tiers).
 */
export async function* mergeSorted(a: AsyncIterable<EventRow>, b: AsyncIterable<EventRow>, order: EventOrder): AsyncGenerator<EventRow> {
  const sign = order === 'asc' ? 1 : -1;
  const ia = a[Symbol.asyncIterator]();
  const ib = b[Symbol.asyncIterator]();
  try {
    let na = await ia.next();
    let nb = await ib.next();
    let last: EventKey | undefined;
    while (!na.done || !nb.done) {
      let row: EventRow;
      if (nb.done || (!na.done && sign * compareKeys(na.value, nb.value) <= 0)) {
        row = na.value as EventRow;
        na = await ia.next();
      } else {
        row = nb.value;
        nb = await ib.next();
      }
      if (last && compareKeys(last, row) === 0) continue;
      last = row;
      yield row;
    }
  } finally {
    await ia.return?.();
    await ib.return?.();
  }
}

/** An in-memory {@link ColdEventSource}, for tests and for wiring before an archive exists. */
export class InMemoryColdEventSource implements ColdEventSource {
  constructor(private readonly rows: readonly (EventRow & { tenant?: string })[]) {}

  async *read(q: ColdEventQuery): AsyncGenerator<EventRow> {
    const sign = q.order === 'asc' ? 1 : -1;
    const from = q.from === undefined ? undefined : Date.parse(q.from);
    const to = q.to === undefined ? undefined : Date.parse(q.to);
    const rows = this.rows
      .filter((r) => r.event.tenant === q.tenant && (q.type === undefined || r.event.type === q.type))
      .filter((r) => (from === undefined || Date.parse(r.event.time) >= from) && (to === undefined || Date.parse(r.event.time) < to))
      .filter((r) => q.after === undefined || sign * compareKeys(r, q.after) > 0)
      .sort((x, y) => sign * compareKeys(x, y));
    for (const row of rows) yield await Promise.resolve(row);
  }
}
