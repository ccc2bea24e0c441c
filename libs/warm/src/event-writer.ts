import type { StoredEvent } from '@tideway/events';
import type { WarmStore } from './db.ts';

export interface WriteResult {
  /** Rows inserted. */
  readonly inserted: number;
  /** Events at or below the checkpoint (already applied; a redelivery after a crash). */
  readonly skipped: number;
  /** The checkpoint after this write. */
  readonly checkpoint: number;
}

/**
 * Writes batches of events into the warm store, effectively once: each batch is one transaction that locks
 * the projection's checkpoint row, drops events at or below it, inserts the rest in one multi-row statement,
 * and moves the checkpoint to the batch's last sequence. Acks must follow the returned promise.
 */
export class WarmEventWriter {
  constructor(
    private readonly store: WarmStore,
    readonly projection: string = 'warm-events',
  ) {}

  /** The last applied stream sequence (0 when nothing was applied yet). */
  async checkpoint(): Promise<number> {
    const rows = await this.store.sql<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.projection}`;
    return rows[0] ? Number(rows[0].seq) : 0;
  }

  /**
   * Applies `batch` and moves the checkpoint to `throughSeq` (default: the batch's last sequence). A caller
   * that set poison messages aside passes the sequence of the last message it consumed.
   */
  async write(batch: readonly StoredEvent[], throughSeq: number = batch.at(-1)?.seq ?? 0): Promise<WriteResult> {
    return this.store.sql.begin(async (tx) => {
      await tx`insert into projection_checkpoints (projection, seq) values (${this.projection}, 0) on conflict do nothing`;
      const [row] = await tx<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.projection} for update`;
      const applied = row ? Number(row.seq) : 0;
      const fresh = batch.filter((e) => e.seq > applied);
      const through = Math.max(applied, throughSeq);
      let inserted = 0;
      const rows = fresh.map(({ seq, event }) => {
        const { data, ...attributes } = event;
        return {
          seq,
          tenant: event.tenant,
          id: event.id,
          source: event.source,
          type: event.type,
          subject: event.subject ?? null,
          time: event.time,
          recorded_time: event.recordedtime,
          partition_key: event.partitionkey,
          // jsonb parameters travel as JSON text (postgres.js has no jsonb serialiser).
          attributes: JSON.stringify(attributes),
          data: data === undefined ? null : JSON.stringify(data),
        };
      });
      if (rows.length > 0) inserted = (await tx`insert into events ${tx(rows)} on conflict do nothing`).count;
      if (through > applied) {
        await tx`update projection_checkpoints set seq = ${through}, updated_at = now() where projection = ${this.projection}`;
      }
      return { inserted, skipped: batch.length - fresh.length, checkpoint: through };
    });
  }
}
