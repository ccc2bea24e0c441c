import { ErrorCode, TidewayError, type StoredEvent } from '@tideway/events';
import { resolveArchive, type ColdArchiveOptions, type ResolvedArchive } from './archive.ts';
import { queryManifest, readColdCheckpoint, type ManifestEntry } from './manifest.ts';
import { readObjectRows } from './object-rows.ts';
import { eventFromRow, type ColdRow } from './parquet.ts';
import { toMicros, utcDate } from './time.ts';

/** What to read from the archive. Every bound is optional. */
export interface ColdEventFilter {
  /** One tenant; omit to read all tenants (a replay). */
  readonly tenant?: string;
  readonly type?: string;
  /** Event time, inclusive (RFC 3339 or Date). */
  readonly from?: string | Date;
  /** Event time, exclusive. */
  readonly to?: string | Date;
  /** Stream sequence, inclusive. */
  readonly fromSeq?: number;
  /** Stream sequence, inclusive. */
  readonly toSeq?: number;
  /** `time` (default): by event time, then sequence, as the query API pages; `seq`: stream order, as replay reads. */
  readonly order?: 'time' | 'seq';
  readonly direction?: 'asc' | 'desc';
  /**
   * A keyset cursor: only events strictly after this position in the requested order and direction. `time`
   * is required for `order: 'time'`.
   */
  readonly after?: { readonly seq: number; readonly time?: string | Date };
}

/** An event position in (time, seq) or seq order. */
interface SortKey {
  readonly time: bigint;
  readonly seq: number;
}

type Compare = (a: SortKey, b: SortKey) => number;

const byTimeAsc: Compare = (a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.seq - b.seq);
const bySeqAsc: Compare = (a, b) => a.seq - b.seq;

/** A min-heap of object cursors, by their current row. */
class CursorHeap {
  private readonly items: { rows: ColdRow[]; at: number }[] = [];
  constructor(private readonly compare: Compare) {}
  get size(): number {
    return this.items.length;
  }
  peek(): ColdRow | undefined {
    const top = this.items[0];
    return top?.rows[top.at];
  }
  push(rows: ColdRow[]): void {
    if (rows.length === 0) return;
    this.items.push({ rows, at: 0 });
    this.up(this.items.length - 1);
  }
  /** Removes and returns the smallest row. */
  pop(): ColdRow | undefined {
    const top = this.items[0];
    if (!top) return undefined;
    const row = top.rows[top.at++]!;
    if (top.at >= top.rows.length) {
      const last = this.items.pop()!;
      if (this.items.length > 0) this.items[0] = last;
    }
    if (this.items.length > 0) this.down(0);
    return row;
  }
  private less(i: number, j: number): boolean {
    const a = this.items[i]!;
    const b = this.items[j]!;
    return this.compare(a.rows[a.at]!, b.rows[b.at]!) < 0;
  }
  private swap(i: number, j: number): void {
    const t = this.items[i]!;
    this.items[i] = this.items[j]!;
    this.items[j] = t;
  }
  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }
  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.items.length && this.less(l, m)) m = l;
      if (r < this.items.length && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}

/**
 * Reads events back from the cold archive as a bounded stream: the manifest picks the objects that can hold
 * matching events (tenant, type, date partitions, time and sequence ranges), and the objects' rows are merged
 * in (time, seq) or seq order. Objects are fetched lazily, only when the merge reaches the first position they
 * may hold (plus a few prefetched), so memory holds the objects that overlap the current position, not the
 * range. Rows are read as of the manifest (verified by SHA-256, or for an object still growing, by its committed
 * rows), so a reader never sees an event the projection has not committed.
 *
 * Decoding is in-process with hyparquet (pure JavaScript, reads from memory): DuckDB would need its `httpfs`
 * extension, downloaded at run time, to read S3, and a native module on the query path.
 */
export class ColdArchiveReader {
  readonly archive: ResolvedArchive;

  constructor(options: ColdArchiveOptions) {
    this.archive = resolveArchive(options);
  }

  /** The manifest rows that can hold events matching `filter`. */
  async objects(filter: ColdEventFilter): Promise<ManifestEntry[]> {
    const from = filter.from === undefined ? undefined : toMicros(filter.from);
    const to = filter.to === undefined ? undefined : toMicros(filter.to);
    return queryManifest(this.archive.store.sql, {
      projection: this.archive.name,
      ...(filter.tenant !== undefined ? { tenant: filter.tenant } : {}),
      ...(filter.type !== undefined ? { type: filter.type } : {}),
      // Date partitions are UTC dates of event times; the time bounds below are exact, the dates prune.
      ...(from !== undefined ? { dateFrom: utcDate(from), timeFrom: from } : {}),
      ...(to !== undefined ? { dateTo: utcDate(to - 1n), timeBefore: to } : {}),
      ...(filter.fromSeq !== undefined ? { seqFrom: filter.fromSeq } : {}),
      ...(filter.toSeq !== undefined ? { seqTo: filter.toSeq } : {}),
    });
  }

  /** The archive's events matching `filter`, in the requested order. */
  async *events(filter: ColdEventFilter): AsyncGenerator<StoredEvent, void, undefined> {
    const order = filter.order ?? 'time';
    const desc = filter.direction === 'desc';
    const from = filter.from === undefined ? undefined : toMicros(filter.from);
    const to = filter.to === undefined ? undefined : toMicros(filter.to);
    if (filter.after && order === 'time' && filter.after.time === undefined) {
      throw new TidewayError(ErrorCode.InvalidQuery, 'a cursor in time order needs the time of its event');
    }
    const base = order === 'time' ? byTimeAsc : bySeqAsc;
    const compare: Compare = desc ? (a, b) => base(b, a) : base;
    const after: SortKey | undefined = filter.after && { seq: filter.after.seq, time: filter.after.time === undefined ? 0n : toMicros(filter.after.time) };

    const keep = (row: ColdRow): boolean =>
      (filter.tenant === undefined || row.tenant === filter.tenant) &&
      (filter.type === undefined || row.type === filter.type) &&
      (from === undefined || row.time >= from) &&
      (to === undefined || row.time < to) &&
      (filter.fromSeq === undefined || row.seq >= filter.fromSeq) &&
      (filter.toSeq === undefined || row.seq <= filter.toSeq) &&
      (after === undefined || compare(row, after) > 0);

    const [checkpoint, entries] = await Promise.all([readColdCheckpoint(this.archive.store.sql, this.archive.name), this.objects(filter)]);
    // The first position (in the merge order) each object may hold.
    const bound = (e: ManifestEntry): SortKey =>
      order === 'time' ? { time: desc ? e.timeMax : e.timeMin, seq: desc ? e.seqMax : e.seqMin } : { time: 0n, seq: desc ? e.seqMax : e.seqMin };
    const boundOrder: Compare = order === 'time' ? (a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0) : bySeqAsc;
    const opening: Compare = desc ? (a, b) => boundOrder(b, a) : boundOrder;
    entries.sort((a, b) => opening(bound(a), bound(b)) || (a.key < b.key ? -1 : 1));

    const fetches = new Map<number, Promise<ColdRow[]>>();
    const fetchAhead = (i: number): void => {
      for (let j = i; j < Math.min(entries.length, i + this.archive.concurrency); j++) {
        if (!fetches.has(j)) {
          const p = readObjectRows(this.archive, entries[j]!, checkpoint).then((rows) => rows.filter(keep).sort(compare));
          p.catch(() => {}); // awaited when the merge reaches it
          fetches.set(j, p);
        }
      }
    };

    const heap = new CursorHeap(compare);
    let next = 0;
    for (;;) {
      // Open every object that may hold a row at or before the current head.
      while (next < entries.length) {
        const head = heap.peek();
        if (head !== undefined && opening(bound(entries[next]!), head) > 0) break;
        fetchAhead(next);
        const rows = await fetches.get(next)!;
        fetches.delete(next);
        next++;
        heap.push(rows);
      }
      const row = heap.pop();
      if (row === undefined) return;
      yield eventFromRow(row);
    }
  }
}
