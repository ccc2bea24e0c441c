import { retentionCutoffs, tierWarmToCold, type ColdArchiveOptions, type WarmRetention } from '@tideway/cold';
import type { JobDefinition } from './job.ts';

/**
 * `tier-warm-to-cold`: moves warm events older than their type's retention to the cold archive — deleting them
 * from warm only after a verified cold object holds them — as a scheduled job with recorded runs. Idempotent:
 * a re-run finds nothing left to move, or finishes what an interrupted run left.
 */
export function tieringJob(options: { archive: ColdArchiveOptions; retention: WarmRetention; schedule?: string }): JobDefinition {
  return {
    name: 'tier-warm-to-cold',
    description: `move warm events older than ${Math.round(options.retention.defaultMs / 86_400_000)} days (per-type overrides) to the cold archive`,
    schedule: options.schedule ?? '30 1 * * *',
    window: (scheduledFor) => ({ start: new Date(0), end: scheduledFor }),
    run: async (ctx) => {
      const report = await tierWarmToCold({
        warm: ctx.warm,
        archive: options.archive,
        cutoffs: retentionCutoffs(options.retention, ctx.window.end),
        scheme: ctx.scheme,
      });
      return { eventsRead: report.eligible, rowsWritten: report.archived + report.backfilled };
    },
  };
}
