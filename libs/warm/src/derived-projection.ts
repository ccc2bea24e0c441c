import {
  AlertRaisedSchema,
  AnomalyDetectedSchema,
  DerivedEventType,
  WindowResultSchema,
  type StoredEvent,
} from '@tideway/events';
import type { ApplyResult, ProjectionStore } from '@tideway/projection';
import type { WarmStore } from './db.ts';

const SCHEMAS = {
  [DerivedEventType.WindowResult]: WindowResultSchema,
  [DerivedEventType.AnomalyDetected]: AnomalyDetectedSchema,
  [DerivedEventType.AlertRaised]: AlertRaisedSchema,
} as const;

/**
 * The warm projection of the DERIVED stream: window results (one row per window, overwritten in stream order by
 * previews, late updates and the final result; windows a late event merged away are deleted), anomalies and
 * alerts. Same discipline as the event projection: one transaction per batch with the checkpoint.
 */
export class WarmDerivedProjection implements ProjectionStore {
  constructor(
    private readonly store: WarmStore,
    readonly name: string = 'warm-derived',
  ) {}

  reject(stored: StoredEvent): string | undefined {
    const schema = SCHEMAS[stored.event.type as keyof typeof SCHEMAS];
    if (!schema) return undefined; // not ours: skipped by apply
    const parsed = schema.safeParse(stored.event.data);
    return parsed.success ? undefined : `${stored.event.type} payload does not match its schema: ${parsed.error.issues[0]?.message ?? ''}`;
  }

  async checkpoint(): Promise<number> {
    const rows = await this.store.sql<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name}`;
    return rows[0] ? Number(rows[0].seq) : 0;
  }

  async apply(batch: readonly StoredEvent[], throughSeq: number = batch.at(-1)?.seq ?? 0): Promise<ApplyResult> {
    return this.store.sql.begin(async (tx) => {
      await tx`insert into projection_checkpoints (projection, seq) values (${this.name}, 0) on conflict do nothing`;
      const [row] = await tx<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name} for update`;
      const applied = row ? Number(row.seq) : 0;
      const fresh = batch.filter((e) => e.seq > applied);
      let written = 0;
      // Window results: keep the last result per window within the batch (stream order), then upsert.
      const windows = new Map<string, Record<string, unknown>>();
      const superseded: { tenant: string; pipeline: string; stage: string; key: string; start: string; end: string }[] = [];
      const anomalies: Record<string, unknown>[] = [];
      const alerts: Record<string, unknown>[] = [];
      for (const { seq, event } of fresh) {
        if (event.type === DerivedEventType.WindowResult) {
          const d = WindowResultSchema.parse(event.data);
          for (const r of d.replaces) {
            superseded.push({ tenant: event.tenant, pipeline: d.pipeline, stage: d.stage, key: d.key, start: r.start, end: r.end });
            windows.delete(JSON.stringify([event.tenant, d.pipeline, d.stage, d.key, r.start, r.end]));
          }
          const id = JSON.stringify([event.tenant, d.pipeline, d.stage, d.key, d.window.start, d.window.end]);
          windows.delete(id);
          windows.set(id, {
            tenant: event.tenant,
            pipeline: d.pipeline,
            stage: d.stage,
            key: d.key,
            window_start: d.window.start,
            window_end: d.window.end,
            aggregate: d.aggregate,
            value: JSON.stringify(d.value ?? null),
            count: d.count,
            final: d.final,
            provisional: d.provisional,
            update_count: d.updateCount,
            trigger: d.trigger,
            event_id: event.id,
            seq,
          });
        } else if (event.type === DerivedEventType.AnomalyDetected) {
          const d = AnomalyDetectedSchema.parse(event.data);
          anomalies.push({
            tenant: event.tenant,
            id: event.id,
            pipeline: d.pipeline,
            stage: d.stage,
            key: d.key,
            value: d.value,
            score: d.score,
            threshold: d.threshold,
            components: JSON.stringify(d.components),
            event_time: d.eventTime,
            input: JSON.stringify(d.input),
            seq,
          });
        } else if (event.type === DerivedEventType.AlertRaised) {
          const d = AlertRaisedSchema.parse(event.data);
          alerts.push({
            tenant: event.tenant,
            id: event.id,
            pipeline: d.pipeline,
            stage: d.stage,
            key: d.key,
            value: d.value,
            score: d.score,
            threshold: d.threshold,
            at: d.at,
            summary: d.summary,
            anomaly_id: d.anomalyId,
            suppressed_before: d.suppressedBefore,
            seq,
          });
        }
      }
      for (const s of superseded) {
        await tx`delete from window_results where tenant = ${s.tenant} and pipeline = ${s.pipeline} and stage = ${s.stage} and key = ${s.key} and window_start = ${s.start} and window_end = ${s.end}`;
      }
      const rows = [...windows.values()];
      for (let i = 0; i < rows.length; i += 1000) {
        written += (
          await tx`insert into window_results ${tx(rows.slice(i, i + 1000))}
            on conflict (tenant, pipeline, stage, key, window_start, window_end) do update set
              aggregate = excluded.aggregate, value = excluded.value, count = excluded.count, final = excluded.final,
              provisional = excluded.provisional, update_count = excluded.update_count, trigger = excluded.trigger,
              event_id = excluded.event_id, seq = excluded.seq`
        ).count;
      }
      for (let i = 0; i < anomalies.length; i += 1000) written += (await tx`insert into anomalies ${tx(anomalies.slice(i, i + 1000))} on conflict do nothing`).count;
      for (let i = 0; i < alerts.length; i += 1000) written += (await tx`insert into alerts ${tx(alerts.slice(i, i + 1000))} on conflict do nothing`).count;
      const through = Math.max(applied, throughSeq);
      if (through > applied) await tx`update projection_checkpoints set seq = ${through}, updated_at = now() where projection = ${this.name}`;
      return { applied: written, skipped: batch.length - fresh.length, checkpoint: through };
    });
  }
}
