import type { NatsConnection } from '@nats-io/transport-node';
import type { SubjectScheme } from '@tideway/events';
import type { WarmStore } from '@tideway/warm';

/** The time window of history one run covers. */
export interface JobWindow {
  readonly start: Date;
  readonly end: Date;
}

/** What a job run needs from the platform. */
export interface JobContext {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly scheme: SubjectScheme;
  readonly warm: WarmStore;
  /** The run's id (rows it writes carry it). */
  readonly runId: number;
  readonly window: JobWindow;
  /** Replay events recorded up to this time (the run's start), so a run's input is bounded. */
  readonly asOf: Date;
  readonly onProgress?: (p: { events: number; seq: number; lastSeq: number }) => void;
}

/** What a run did. */
export interface JobOutcome {
  readonly eventsRead: number;
  readonly rowsWritten: number;
}

/**
 * A scheduled batch job: a bounded replay of a window of history through a pipeline into a projection. `run`
 * must be idempotent for a window — a re-run overwrites what an earlier run of the same window wrote — so a
 * failed or partial run can simply be run again.
 */
export interface JobDefinition {
  readonly name: string;
  readonly description: string;
  /** Cron expression (5 or 6 fields, UTC). */
  readonly schedule: string;
  /** The window a run scheduled at `scheduledFor` covers. */
  window(scheduledFor: Date): JobWindow;
  run(context: JobContext): Promise<JobOutcome>;
}
