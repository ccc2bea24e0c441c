import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { JobRunner, dailyEntityAggregatesJob, type JobRun } from '@tideway/jobs';
import { applyDefinitions, connectNats, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import type { commonEnv } from '@tideway/service';
import { migrateWarmStore, openWarmStore } from '@tideway/warm';
import type { z } from 'zod';

type CommonConfig = { [K in keyof typeof commonEnv]: z.infer<(typeof commonEnv)[K]> };

export const JOBS_USAGE = `usage: tideway jobs <list | runs [--job <name>] [--limit <n>] | run <name> [--for <time>] | rerun <run-id>>

  list      the jobs, their schedules (cron, UTC) and next due times
  runs      recorded runs: status, window, counts, duration, error
  run       run a job now for the window of --for (default: its last due time)
  rerun     run a recorded run's window again (idempotent)`;

function printRun(r: JobRun): void {
  console.log(
    `#${String(r.id).padEnd(5)} ${r.job.padEnd(26)} ${r.status.padEnd(9)} ${r.trigger.padEnd(8)} ${r.windowStart} → ${r.windowEnd}  events ${r.eventsRead}  rows ${r.rowsWritten}  ${r.durationMs ?? '-'} ms${r.rerunOf ? `  (rerun of #${r.rerunOf})` : ''}${r.error ? `\n       error: ${r.error}` : ''}`,
  );
}

/** `tideway jobs …`: list, inspect and (re-)run scheduled batch jobs. */
export async function jobsCommand(argv: string[], config: CommonConfig): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { job: { type: 'string' }, limit: { type: 'string' }, for: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (!sub || !['list', 'runs', 'run', 'rerun'].includes(sub)) {
    console.error(JOBS_USAGE);
    return 2;
  }
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-jobs' });
  const warm = openWarmStore({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: 3 });
  try {
    await migrateWarmStore(warm, config.MIGRATIONS_DIR);
    await applyDefinitions(await jetstreamManager(nats.nc), inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace));
    const runner = new JobRunner({
      nc: nats.nc,
      stream: streamName('EVENTS', namespace),
      scheme: { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS },
      warm,
      jobs: [dailyEntityAggregatesJob()],
    });
    if (sub === 'list') {
      for (const j of runner.definitions()) console.log(`${j.name.padEnd(26)} ${j.schedule.padEnd(14)} next ${runner.nextRun(j.name).toISOString()}  ${j.description}`);
    } else if (sub === 'runs') {
      for (const r of await runner.runs({ ...(values.job ? { job: values.job } : {}), limit: Number(values.limit ?? 20) })) printRun(r);
    } else {
      const progress = (p: { events: number; seq: number; lastSeq: number }): void => {
        process.stderr.write(`\r  replaying: seq ${p.seq}/${p.lastSeq}, ${p.events} events`);
      };
      let run: JobRun;
      if (sub === 'run') {
        const name = positionals[0];
        if (!name) throw new Error('tideway jobs run <name>');
        const at = values.for ? new Date(values.for) : runner.previousRun(name);
        if (Number.isNaN(at.getTime())) throw new Error(`--for must be a time, got "${values.for}"`);
        run = await runner.run(name, at, 'manual', undefined, progress);
      } else {
        run = await runner.rerun(Number(positionals[0]), progress);
      }
      process.stderr.write('\n');
      printRun(run);
      return run.status === 'succeeded' ? 0 : 1;
    }
    return 0;
  } finally {
    await warm.close();
    await nats.nc.close();
  }
}
