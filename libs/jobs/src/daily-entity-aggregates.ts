import { from, lastValueFrom, mergeMap, toArray } from 'rxjs';
import { EntityReducers, type EntityRef } from '@tideway/entities';
import { eventFilter, type StoredEvent } from '@tideway/events';
import { stats, tumbling, windowAggregate, windowResults } from '@tideway/operators';
import { readBounded } from '@tideway/projection';
import type { JobDefinition, JobWindow } from './job.ts';

const DAY = 86_400_000;

export interface DailyEntityAggregatesOptions {
  /** Event type whose numeric value is aggregated. */
  readonly eventType?: string;
  /** The numeric value of an event, or undefined to skip it. */
  readonly value?: (e: StoredEvent) => number | undefined;
  /** How long before the window's start events may have been recorded (producers sending ahead/behind). */
  readonly lookbackMs?: number;
  readonly schedule?: string;
}

function startOfUtcDay(t: number): number {
  return Math.floor(t / DAY) * DAY;
}

/**
 * `daily-entity-aggregates`: for the previous UTC day, count/sum/min/max/mean/variance/p50/p95/p99 of the
 * readings of every entity, by event time. The pipeline is the same RxJS window operator the live processor
 * uses (a one-day tumbling window per entity); the source is a bounded replay of the events recorded from
 * `lookback` before the day until the run starts; completion of the bounded source flushes the windows.
 * Rows are upserted per (tenant, entity, day), so re-running a day overwrites it.
 */
export function dailyEntityAggregatesJob(options: DailyEntityAggregatesOptions = {}): JobDefinition {
  const eventType = options.eventType ?? 'iot.sensor.reading';
  const reducers = new EntityReducers();
  const value =
    options.value ??
    ((e: StoredEvent) => {
      const v = (e.event.data as { reading_value?: unknown } | undefined)?.reading_value;
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    });
  return {
    name: 'daily-entity-aggregates',
    description: `daily statistics of ${eventType} values per entity (previous UTC day)`,
    schedule: options.schedule ?? '5 0 * * *',
    window: (scheduledFor: Date): JobWindow => {
      const end = startOfUtcDay(scheduledFor.getTime());
      return { start: new Date(end - DAY), end: new Date(end) };
    },
    run: async (ctx) => {
      const start = ctx.window.start.getTime();
      const end = ctx.window.end.getTime();
      const read = await readBounded({
        nc: ctx.nc,
        stream: ctx.stream,
        filterSubject: eventFilter(ctx.scheme, { type: eventType }),
        range: { fromTime: new Date(start - (options.lookbackMs ?? DAY)).toISOString(), toTime: ctx.asOf.toISOString() },
      });
      let eventsRead = 0;
      type Point = { tenant: string; ref: EntityRef; time: number; value: number };
      const points = from(read.batches).pipe(
        mergeMap((batch) => {
          eventsRead += batch.length;
          ctx.onProgress?.({ events: eventsRead, seq: batch.at(-1)!.seq, lastSeq: read.lastSeq });
          const out: Point[] = [];
          for (const e of batch) {
            const t = Date.parse(e.event.time);
            if (t < start || t >= end) continue;
            const ref = reducers.for(e.event.type).entityOf(e.event);
            const v = value(e);
            if (ref && v !== undefined) out.push({ tenant: e.event.tenant, ref, time: t, value: v });
          }
          return out;
        }),
      );
      const results = await lastValueFrom(
        points.pipe(
          windowAggregate({
            window: tumbling(DAY),
            key: (p: Point) => JSON.stringify([p.tenant, p.ref.entityType, p.ref.entityId]),
            eventTime: (p) => p.time,
            value: (p) => p.value,
            aggregate: stats(),
            // every point of the day is on time: the window closes when the bounded source completes
            maxOutOfOrdernessMs: DAY,
            maxFutureMs: Infinity,
          }),
          windowResults({ finalOnly: true }),
          toArray(),
        ),
      );
      const rows = results.map((r) => {
        const [tenant, entityType, entityId] = JSON.parse(r.window.key) as [string, string, string];
        return {
          tenant,
          entity_type: entityType,
          entity_id: entityId,
          day: new Date(r.window.start).toISOString(),
          count: r.count,
          stats: JSON.stringify(r.value),
          job_run: ctx.runId,
        };
      });
      await ctx.warm.sql.begin(async (tx) => {
        // the window's rows are replaced as a whole: a re-run leaves exactly what the last run computed
        await tx`delete from daily_entity_aggregates where day = ${ctx.window.start.toISOString()}`;
        for (let i = 0; i < rows.length; i += 2000) await tx`insert into daily_entity_aggregates ${tx(rows.slice(i, i + 2000))}`;
      });
      return { eventsRead, rowsWritten: rows.length };
    },
  };
}
