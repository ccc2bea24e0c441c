export type { JobDefinition, JobContext, JobOutcome, JobWindow } from './job.ts';
export { JobRunner, JobScheduler, type JobRun, type RunTrigger, type JobRunnerOptions } from './runner.ts';
export { dailyEntityAggregatesJob, type DailyEntityAggregatesOptions } from './daily-entity-aggregates.ts';
export { tieringJob } from './tiering.ts';
