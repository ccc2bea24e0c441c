import { ErrorCode, TidewayError, type StoredEvent } from '@tideway/events';
import type { ApplyResult, ProjectionStore } from '@tideway/projection';
import { resolveArchive, writeColdObject, type ColdArchiveOptions, type ResolvedArchive } from './archive.ts';
import { ColumnRegistry, type FlatType } from './columns.ts';
import { appendRows, objectKey, partitionId, windowOf, type Part, type SeqWindow } from './layout.ts';
import { readColdCheckpoint, upsertManifest } from './manifest.ts';
import { getObjectBytes, mapLimit } from './objects.ts';
import { decodeParquet, rowFromEvent, unarchivableReason, type ColdRow } from './parquet.ts';

/** Options of {@link createColdProjection}: the archive it writes. */
export type ColdProjectionOptions = ColdArchiveOptions;

/** The newest object of one tenant/type/date in one window: the only one that can still grow. */
interface OpenObject {
  readonly tenant: string;
  readonly type: string;
  readonly date: string;
  readonly window: SeqWindow;
  readonly key: string;
  readonly seqMin: number;
  readonly seqMax: number;
  readonly rowCount: number;
  /** Its committed rows, once loaded (from the batch that wrote them, or from the object). */
  rows?: ColdRow[];
}

/**
 * The cold projection: the event log archived as Parquet objects on S3, with the manifest and the
 * checkpoint in PostgreSQL. It implements the projection port, so `runProjection` runs it like the warm and
 * hot projections.
 *
 * Commit protocol of `apply`: the batch's events are grouped by window and tenant/type/date; each group is
 * appended to the open object of its partition in its window (the object is rewritten whole, under the
 * same key) or starts a new one; every object is put and confirmed; then ONE PostgreSQL transaction upserts
 * the objects' manifest rows, registers new flattened columns and moves the checkpoint (refusing if the
 * checkpoint moved under it). A crash before the commit leaves objects whose extra rows lie beyond their
 * manifest row's `seq_max` (readers ignore them) or objects not in the manifest at all; the redelivered
 * batch rewrites the same keys with the same content, because keys and contents depend only on the
 * events, not on batch boundaries. Nothing is buffered across applies: the checkpoint never passes an
 * event that is not in a committed object (or quarantined by the runner).
 *
 * Memory: the rows of the open objects of the current window(s), so about `windowSize` events.
 */
export class ColdProjection implements ProjectionStore {
  readonly name: string;
  readonly archive: ResolvedArchive;
  private readonly registry: ColumnRegistry;
  private registryLoaded = false;
  /** Checkpoint and window cache are valid (false after a failed apply: reload before the next). */
  private loaded = false;
  private committedSeq = 0;
  private readonly windows = new Map<number, Map<string, OpenObject>>();

  constructor(options: ColdProjectionOptions) {
    this.archive = resolveArchive(options);
    this.name = this.archive.name;
    this.registry = new ColumnRegistry(this.archive.maxFlattenedColumns);
  }

  /** Reads the committed checkpoint, and (re)loads the projection's state from the manifest database. */
  async checkpoint(): Promise<number> {
    await this.reload();
    return this.committedSeq;
  }

  private async reload(): Promise<void> {
    const { sql } = this.archive.store;
    this.loaded = false;
    const [seq, columns] = await Promise.all([
      readColdCheckpoint(sql, this.name),
      sql<{ tenant: string; type: string; name: string; field: string; column_type: FlatType; first_seq: string }[]>`
        select tenant, type, name, field, column_type, first_seq from cold_columns where projection = ${this.name}`,
    ]);
    this.registry.load(
      columns.map((c) => ({ tenant: c.tenant, eventType: c.type, column: { name: c.name, field: c.field, type: c.column_type, firstSeq: Number(c.first_seq) } })),
    );
    this.registryLoaded = true;
    this.windows.clear();
    this.committedSeq = seq;
    this.loaded = true;
  }

  /**
   * Quarantines what the archive cannot hold: an event whose tenant or type cannot be part of an object key,
   * whose times do not parse, or whose payload has a field of another type than the field's column. The
   * verdict depends only on the events before it in the stream. Call `checkpoint()` first (the runner does).
   */
  reject(stored: StoredEvent): string | undefined {
    if (!this.registryLoaded) throw new Error(`cold projection ${this.name}: checkpoint() must be called before reject()`);
    const reason = unarchivableReason(stored.event);
    if (reason !== undefined) return reason;
    if (stored.seq <= this.committedSeq) return undefined; // already archived; apply skips it
    return this.registry.check(stored.event.tenant, stored.event.type, stored.event.data, stored.seq);
  }

  async apply(batch: readonly StoredEvent[], throughSeq: number): Promise<ApplyResult> {
    try {
      return await this.applyOnce(batch, throughSeq);
    } catch (error) {
      // The commit may or may not have happened: start the next attempt from what the database says.
      this.loaded = false;
      throw error;
    }
  }

  private async applyOnce(batch: readonly StoredEvent[], throughSeq: number): Promise<ApplyResult> {
    if (!this.loaded) await this.reload();
    const base = this.committedSeq;
    const seen = new Set<number>();
    const fresh = batch.filter((e) => e.seq > base && !seen.has(e.seq) && seen.add(e.seq)).sort((a, b) => a.seq - b.seq);
    const through = Math.max(base, throughSeq, fresh.at(-1)?.seq ?? 0);

    const stage = this.registry.stage();
    const rows: ColdRow[] = [];
    for (const stored of fresh) {
      const reason = unarchivableReason(stored.event);
      if (reason !== undefined) throw new TidewayError(ErrorCode.InvalidEvent, `event seq ${stored.seq} cannot be archived: ${reason}`);
      const row = rowFromEvent(stored);
      stage.plan(row.tenant, row.type, row.payload, row.seq);
      rows.push(row);
    }

    // window → partition → rows (ascending, since `fresh` is)
    const groups = new Map<number, Map<string, ColdRow[]>>();
    for (const row of rows) {
      const { start } = windowOf(row.seq, this.archive.windowSize);
      let partitions = groups.get(start);
      if (!partitions) groups.set(start, (partitions = new Map<string, ColdRow[]>()));
      const id = partitionId(row);
      const list = partitions.get(id);
      if (list) list.push(row);
      else partitions.set(id, [row]);
    }

    const opens = new Map<number, Map<string, OpenObject>>();
    for (const start of groups.keys()) opens.set(start, await this.openObjects(windowOf(start, this.archive.windowSize)));
    const toLoad: OpenObject[] = [];
    for (const [start, partitions] of groups) {
      for (const id of partitions.keys()) {
        const open = opens.get(start)?.get(id);
        if (open && !open.rows) toLoad.push(open);
      }
    }
    await mapLimit(toLoad, this.archive.concurrency, (open) => this.loadRows(open));

    const tasks: { key: string; part: Part; row: ColdRow; window: SeqWindow }[] = [];
    const next: { start: number; id: string; open: OpenObject }[] = [];
    for (const [start, partitions] of groups) {
      const window = windowOf(start, this.archive.windowSize);
      for (const [id, list] of partitions) {
        const first = list[0]!;
        const open = opens.get(start)?.get(id);
        const last: Part | undefined = open?.rows && { firstSeq: open.seqMin, rows: open.rows, bytes: open.rows.reduce((n, r) => n + r.size, 0) };
        const touched = appendRows(last, list, this.archive.maxObjectBytes);
        for (const part of touched) {
          // The open object keeps its key (even if the prefix option changed since it was started).
          const key = open && part.firstSeq === open.seqMin ? open.key : objectKey(this.archive.prefix, first.tenant, first.type, first.date, part.firstSeq, window.end);
          tasks.push({ key, part, row: first, window });
        }
        const final = touched.at(-1)!;
        next.push({
          start,
          id,
          open: {
            tenant: first.tenant,
            type: first.type,
            date: first.date,
            window,
            key: tasks.at(-1)!.key,
            seqMin: final.firstSeq,
            seqMax: final.rows.at(-1)!.seq,
            rowCount: final.rows.length,
            rows: final.rows,
          },
        });
      }
    }

    const writes = await mapLimit(tasks, this.archive.concurrency, (t) =>
      writeColdObject(this.archive, t.key, t.part.rows, stage.columns(t.row.tenant, t.row.type), 'projection', t.window),
    );

    await this.archive.store.sql.begin(async (tx) => {
      await tx`insert into cold_checkpoints (projection, seq) values (${this.name}, 0) on conflict do nothing`;
      const [row] = await tx<{ seq: string }[]>`select seq from cold_checkpoints where projection = ${this.name} for update`;
      const current = Number(row?.seq ?? 0);
      if (current !== base) {
        throw new TidewayError(ErrorCode.Conflict, `cold projection ${this.name}: checkpoint is ${current}, expected ${base}; another writer is running`, {
          projection: this.name,
        });
      }
      await upsertManifest(tx, this.name, writes);
      if (stage.additions.length > 0) {
        const columns = stage.additions.map((a) => ({
          projection: this.name,
          tenant: a.tenant,
          type: a.eventType,
          name: a.column.name,
          field: a.column.field,
          column_type: a.column.type,
          first_seq: a.column.firstSeq,
        }));
        await tx`insert into cold_columns ${tx(columns)} on conflict do nothing`;
      }
      if (through > current) await tx`update cold_checkpoints set seq = ${through}, updated_at = now() where projection = ${this.name}`;
    });

    this.committedSeq = through;
    this.registry.commit(stage, through);
    for (const { start, id, open } of next) {
      let partitions = this.windows.get(start);
      if (!partitions) this.windows.set(start, (partitions = new Map<string, OpenObject>()));
      partitions.set(id, open);
    }
    for (const start of [...this.windows.keys()]) {
      if (windowOf(start, this.archive.windowSize).end <= through) this.windows.delete(start);
    }
    return { applied: fresh.length, skipped: batch.length - fresh.length, checkpoint: through };
  }

  /** The open objects of a window, by partition: from the cache, or the manifest after a (re)start. */
  private async openObjects(window: SeqWindow): Promise<Map<string, OpenObject>> {
    const cached = this.windows.get(window.start);
    if (cached) return cached;
    const rows = await this.archive.store.sql<{ key: string; tenant: string; type: string; date: string; seq_min: string; seq_max: string; row_count: number }[]>`
      select distinct on (tenant, type, date) key, tenant, type, date::text as date, seq_min, seq_max, row_count
      from cold_objects
      where projection = ${this.name} and origin = 'projection' and window_start = ${window.start} and window_end = ${window.end}
      order by tenant, type, date, seq_min desc`;
    const partitions = new Map<string, OpenObject>();
    for (const r of rows) {
      partitions.set(partitionId(r), {
        tenant: r.tenant,
        type: r.type,
        date: r.date,
        window,
        key: r.key,
        seqMin: Number(r.seq_min),
        seqMax: Number(r.seq_max),
        rowCount: r.row_count,
      });
    }
    this.windows.set(window.start, partitions);
    return partitions;
  }

  /**
   * Loads an open object's committed rows. The object may hold more rows than its manifest row (a write
   * whose commit never happened): only rows up to the manifest's `seq_max` count.
   */
  private async loadRows(open: OpenObject): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await getObjectBytes(this.archive.store.s3, this.archive.store.bucket, open.key);
    } catch (cause) {
      throw new TidewayError(ErrorCode.ArchiveIntegrity, `cold object ${open.key} of the manifest cannot be read`, { key: open.key }, { cause });
    }
    const rows = (await decodeParquet(bytes)).filter((r) => r.seq >= open.seqMin && r.seq <= open.seqMax);
    if (rows.length !== open.rowCount) {
      throw new TidewayError(ErrorCode.ArchiveIntegrity, `cold object ${open.key} holds ${rows.length} committed rows, the manifest says ${open.rowCount}`, {
        key: open.key,
      });
    }
    open.rows = rows;
  }
}

/**
 * Creates the cold projection of an archive, for `runProjection` (give it a big batch: e.g. 10,000 events or
 * 5 s, with the `cold-archiver` consumer of `streams/`).
 *
 * @example
 * const store = openColdStore({ url, schema, s3, bucket: 'tideway-archive' });
 * await migrateColdStore(store, 'migrations/cold');
 * const projection = createColdProjection({ store });
 * await runProjection({ ...common, store: projection, consumer: coldArchiverConsumer, maxBatch: 10_000, maxWaitMs: 5_000 });
 */
export function createColdProjection(options: ColdProjectionOptions): ColdProjection {
  return new ColdProjection(options);
}
