import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import cliProgress from 'cli-progress';
import { applyDefinitions, connectNats, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import { parseBound } from '@tideway/projection';
import type { commonEnv } from '@tideway/service';
import type { z } from 'zod';
import { rebuildWarm } from './replay.ts';

type CommonConfig = { [K in keyof typeof commonEnv]: z.infer<(typeof commonEnv)[K]> };

export const REPLAY_USAGE = `usage: tideway replay --projection <warm|all> [--from <seq|time>] [--to <seq|time>] [--drop-replaced]

Rebuilds a projection from the log into a shadow version while the live one keeps serving, then swaps it in
atomically. With --to, the replay is a bounded batch run: the shadow is kept and not swapped.`;

/** `tideway replay`: rebuild projections from the log with a progress bar and a summary. */
export async function replayCommand(argv: string[], config: CommonConfig): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      projection: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'drop-replaced': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const projection = values.projection;
  if (projection !== 'warm' && projection !== 'all') {
    console.error(REPLAY_USAGE);
    return 2;
  }
  const range = { ...parseBound(values.from, 'from'), ...parseBound(values.to, 'to') };
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-replay' });
  const bar = new cliProgress.SingleBar({ format: '{phase} [{bar}] {percentage}% | seq {value}/{total} | {events} events | {eta_formatted} left' }, cliProgress.Presets.shades_classic);
  let started = false;
  try {
    await applyDefinitions(await jetstreamManager(nats.nc), inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace));
    const summary = await rebuildWarm({
      nc: nats.nc,
      stream: streamName('EVENTS', namespace),
      scheme: { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS },
      databaseUrl: config.DATABASE_URL,
      schema: config.DATABASE_SCHEMA,
      migrationsDir: config.MIGRATIONS_DIR,
      range,
      dropReplaced: values['drop-replaced'],
      onProgress: (p) => {
        if (!started) {
          bar.start(p.lastSeq, 0, { phase: p.phase, events: 0 });
          started = true;
        }
        bar.setTotal(p.lastSeq);
        bar.update(p.seq, { phase: p.phase, events: p.events });
      },
    });
    bar.stop();
    console.log(`
warm projection ${summary.swapped ? 'rebuilt and swapped in' : 'replayed into a shadow (not swapped)'}
  events replayed   ${summary.events}
  rows / entities   ${summary.rows} / ${summary.entities}
  checkpoint        ${summary.checkpoint}
  checksum          ${summary.checksum}
  schema            ${summary.swapped ? config.DATABASE_SCHEMA : summary.shadow}${summary.replaced ? ` (previous version kept as ${summary.replaced})` : ''}
  took              ${summary.seconds.toFixed(1)} s`);
    return 0;
  } finally {
    bar.stop();
    await nats.nc.close();
  }
}
