import type { ColdArchiveReader } from '@tideway/cold';
import { timeKey, type ColdEventSource, type EventRow } from '@tideway/event-query';

/**
 * The cold archive (`@tideway/cold`'s manifest-pruned `ColdArchiveReader`) behind the query layer's
 * `ColdEventSource` port: events of a tenant/type/time range in (time, seq) order, strictly after a key.
 */
export function coldEventSource(reader: ColdArchiveReader): ColdEventSource {
  return {
    async *read(q): AsyncGenerator<EventRow> {
      const events = reader.events({
        tenant: q.tenant,
        order: 'time',
        direction: q.order,
        ...(q.type === undefined ? {} : { type: q.type }),
        ...(q.from === undefined ? {} : { from: q.from }),
        ...(q.to === undefined ? {} : { to: q.to }),
        ...(q.after === undefined ? {} : { after: { seq: q.after.s, time: q.after.t } }),
      });
      for await (const stored of events) yield { t: timeKey(stored.event.time), s: stored.seq, event: stored.event };
    },
  };
}
