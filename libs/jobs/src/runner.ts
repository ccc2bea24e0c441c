import { CronExpressionParser } from 'cron-parser';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SubjectScheme } from '@tideway/events';
import type { WarmStore } from '@tideway/warm';
import type { JobContext, JobDefinition, JobOutcome } from './job.ts';

export type RunTrigger = 'schedule' | 'manual' | 'rerun';

/** A recorded run. */
export interface JobRun {
  readonly id: number;
  readonly job: string;
  readonly scheduledFor: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly status: 'running' | 'succeeded' | 'failed';
  readonly trigger: RunTrigger;
  readonly rerunOf: number | null;
  readonly eventsRead: number;
  readonly rowsWritten: number;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  readonly error: string | null;
}

export interface JobRunnerOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly scheme: SubjectScheme;
  readonly warm: WarmStore;
  readonly jobs: readonly JobDefinition[];
}

interface RunRow {
  id: string;
  job: string;
  scheduled_for: Date;
  window_start: Date;
  window_end: Date;
  status: JobRun['status'];
  trigger: RunTrigger;
  rerun_of: string | null;
  events_read: string;
  rows_written: string;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: string | null;
  error: string | null;
}

const toRun = (r: RunRow): JobRun => ({
  id: Number(r.id),
  job: r.job,
  scheduledFor: new Date(r.scheduled_for).toISOString(),
  windowStart: new Date(r.window_start).toISOString(),
  windowEnd: new Date(r.window_end).toISOString(),
  status: r.status,
  trigger: r.trigger,
  rerunOf: r.rerun_of === null ? null : Number(r.rerun_of),
  eventsRead: Number(r.events_read),
  rowsWritten: Number(r.rows_written),
  startedAt: new Date(r.started_at).toISOString(),
  finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
  durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
  error: r.error,
});

/** Runs jobs and records every run (status, counts, duration, error) in `job_runs`. */
export class JobRunner {
  private readonly jobs: Map<string, JobDefinition>;

  constructor(private readonly options: JobRunnerOptions) {
    this.jobs = new Map(options.jobs.map((j) => [j.name, j]));
  }

  definitions(): readonly JobDefinition[] {
    return [...this.jobs.values()];
  }

  job(name: string): JobDefinition {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`unknown job "${name}"; known: ${[...this.jobs.keys()].join(', ')}`);
    return job;
  }

  /** The next time a job is due after `after`. */
  nextRun(name: string, after: Date = new Date()): Date {
    return CronExpressionParser.parse(this.job(name).schedule, { currentDate: after, tz: 'UTC' }).next().toDate();
  }

  /** The last time a job was due at or before `at`. */
  previousRun(name: string, at: Date = new Date()): Date {
    return CronExpressionParser.parse(this.job(name).schedule, { currentDate: new Date(at.getTime() + 1), tz: 'UTC' }).prev().toDate();
  }

  /** Runs a job for the window of `scheduledFor`, recording the run. Never throws for a job failure: see `status`. */
  async run(name: string, scheduledFor: Date, trigger: RunTrigger = 'manual', rerunOf?: number, onProgress?: JobContext['onProgress']): Promise<JobRun> {
    const job = this.job(name);
    const window = job.window(scheduledFor);
    const sql = this.options.warm.sql;
    const [created] = await sql<{ id: string }[]>`
      insert into job_runs (job, scheduled_for, window_start, window_end, status, trigger, rerun_of)
      values (${name}, ${scheduledFor.toISOString()}, ${window.start.toISOString()}, ${window.end.toISOString()}, 'running', ${trigger}, ${rerunOf ?? null})
      returning id`;
    const runId = Number(created!.id);
    const started = performance.now();
    let outcome: JobOutcome | undefined;
    let error: string | undefined;
    try {
      outcome = await job.run({ ...this.options, runId, window, asOf: new Date(), ...(onProgress ? { onProgress } : {}) });
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const [row] = await sql<RunRow[]>`
      update job_runs set
        status = ${error === undefined ? 'succeeded' : 'failed'},
        events_read = ${outcome?.eventsRead ?? 0},
        rows_written = ${outcome?.rowsWritten ?? 0},
        finished_at = now(),
        duration_ms = ${Math.round(performance.now() - started)},
        error = ${error ?? null}
      where id = ${runId}
      returning *`;
    return toRun(row!);
  }

  /** Runs a recorded run's window again (idempotent: the job overwrites what the window produced). */
  async rerun(runId: number, onProgress?: JobContext['onProgress']): Promise<JobRun> {
    const [row] = await this.options.warm.sql<RunRow[]>`select * from job_runs where id = ${runId}`;
    if (!row) throw new Error(`no job run ${runId}`);
    return this.run(row.job, new Date(row.scheduled_for), 'rerun', runId, onProgress);
  }

  async runs(filter: { job?: string; limit?: number } = {}): Promise<JobRun[]> {
    const sql = this.options.warm.sql;
    const rows = await sql<RunRow[]>`
      select * from job_runs ${filter.job ? sql`where job = ${filter.job}` : sql``}
      order by id desc limit ${filter.limit ?? 50}`;
    return rows.map(toRun);
  }

  /** Whether a window already has a successful run. */
  async succeeded(name: string, scheduledFor: Date): Promise<boolean> {
    const rows = await this.options.warm.sql`
      select 1 from job_runs where job = ${name} and scheduled_for = ${scheduledFor.toISOString()} and status = 'succeeded' limit 1`;
    return rows.length > 0;
  }
}

/**
 * Fires jobs on their cron schedules. On start it catches up the most recent due time of each job that has no
 * successful run (a scheduler that was down does not silently skip a day). One scheduler should run per
 * deployment; the caller holds a lock for that.
 */
export class JobScheduler {
  private timers = new Map<string, NodeJS.Timeout>();
  private running = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly runner: JobRunner,
    private readonly onRun: (run: JobRun) => void = () => {},
  ) {}

  async start(now: Date = new Date()): Promise<void> {
    for (const job of this.runner.definitions()) {
      const due = this.runner.previousRun(job.name, now);
      if (!(await this.runner.succeeded(job.name, due))) this.fire(job.name, due);
      this.arm(job.name);
    }
  }

  private arm(name: string): void {
    if (this.stopped) return;
    const next = this.runner.nextRun(name);
    const delay = Math.min(next.getTime() - Date.now(), 2 ** 31 - 1);
    this.timers.set(
      name,
      setTimeout(() => {
        if (next.getTime() <= Date.now()) this.fire(name, next);
        this.arm(name);
      }, Math.max(delay, 0)),
    );
  }

  private fire(name: string, scheduledFor: Date): void {
    const p = this.runner.run(name, scheduledFor, 'schedule').then(this.onRun);
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    await Promise.allSettled([...this.running]);
  }
}
