import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import { JetStreamPublisher, applyDefinitions, connectNats, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import { CheckpointStore, loadPipelineSpecs, parseRangeBound, replayPipeline, selectPipelines, toOutgoing, type EngineOutput, type RangeBound } from '@tideway/pipeline';
import { commonEnv, parseEnv } from '@tideway/service';

export const PROCESS_USAGE = `usage: tideway process replay --pipeline <name> [--from <seq|time>] [--to <seq|time>]
                              [--partitions 0,3,…] [--out <file.ndjson>|-] [--publish] [--no-flush]
       tideway process status

replay   Batch mode: runs a pipeline from pipelines/ over a range of the EVENTS stream (stream sequences, or
         RFC 3339 times compared with each event's recordedtime; default: the whole stream as it is now),
         partition by partition from an empty state, flushes every window still open at the range's end
         (trigger "end-of-stream") and prints counts. Over the same range the results equal the live
         processor's, plus those flushed windows. Nothing is written unless asked:
           --out FILE   every output as one JSON line (derived events as stored; rejects with their reason)
           --publish    publish the outputs like the live processor (same ids: already stored ones are
                        dropped as duplicates by JetStream within its duplicate window)
status   each pipeline partition's checkpoint (last sequence) from the processor's KV bucket`;

const cliEnv = {
  ...commonEnv,
  PIPELINES_DIR: z.string().default('pipelines'),
  PROCESSOR_STATE_BUCKET: z.string().regex(/^[A-Za-z0-9_-]+$/).default('processor-state'),
};

function line(output: EngineOutput): string {
  if (output.kind === 'derived') return JSON.stringify({ kind: 'derived', event: output.event });
  const { data: _data, ...rest } = output;
  return JSON.stringify(rest);
}

/** `tideway process …`: bounded replays of pipelines, and their checkpoints. */
export async function processCommand(argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'replay' && sub !== 'status') {
    console.error(PROCESS_USAGE);
    return sub === undefined || sub === 'help' || sub === '--help' ? 0 : 2;
  }
  const config = parseEnv(cliEnv, env);
  const namespace = { subjectRoot: config.TIDEWAY_SUBJECT_ROOT, streamSuffix: config.TIDEWAY_STREAM_SUFFIX };
  const scheme = { root: config.TIDEWAY_SUBJECT_ROOT, partitions: config.TIDEWAY_PARTITIONS };
  const nats = await connectNats({ servers: config.NATS_URL, name: 'tideway-cli-process' });
  try {
    if (sub === 'status') {
      const store = await CheckpointStore.open(nats.nc, { bucket: `${config.PROCESSOR_STATE_BUCKET}${config.TIDEWAY_STREAM_SUFFIX}` });
      const positions = await store.positions();
      if (positions.length === 0) console.log('no pipeline checkpoints yet');
      for (const p of positions) console.log(`${p.pipeline.padEnd(32)} partition ${String(p.partition).padStart(3)}   checkpoint seq ${p.lastSeq}   definition ${p.specHash}`);
      return 0;
    }
    const { values } = parseArgs({
      args: rest,
      options: {
        pipeline: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        partitions: { type: 'string' },
        out: { type: 'string' },
        publish: { type: 'boolean', default: false },
        'no-flush': { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!values.pipeline) {
      console.error(PROCESS_USAGE);
      return 2;
    }
    const [spec] = selectPipelines(await loadPipelineSpecs(config.PIPELINES_DIR), [values.pipeline]);
    if (!spec) return 2;
    const from: RangeBound | undefined = values.from === undefined ? undefined : parseRangeBound(values.from);
    const to: RangeBound | undefined = values.to === undefined ? undefined : parseRangeBound(values.to);
    const partitions = values.partitions?.split(',').map((p) => Number(p.trim()));
    if (partitions?.some((p) => !Number.isInteger(p) || p < 0 || p >= scheme.partitions)) {
      console.error(`--partitions takes partition numbers in [0, ${scheme.partitions - 1}]`);
      return 2;
    }
    const stream = streamName('EVENTS', namespace);
    const toStdout = values.out === '-';
    const report = (text: string): void => {
      if (toStdout) console.error(text);
      else console.log(text);
    };
    let file: WriteStream | NodeJS.WriteStream | undefined;
    if (values.out !== undefined) file = toStdout ? process.stdout : createWriteStream(values.out);
    let publisher: JetStreamPublisher | undefined;
    if (values.publish) {
      await applyDefinitions(await jetstreamManager(nats.nc), inNamespace(await loadDefinitions(config.STREAMS_DIR), namespace));
      publisher = new JetStreamPublisher(nats.nc, { connected: nats.connected });
    }
    let published = 0;
    let duplicates = 0;
    const pending: Promise<void>[] = [];
    const started = performance.now();
    const result = await replayPipeline({
      nc: nats.nc,
      stream,
      scheme,
      spec,
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(partitions ? { partitions } : {}),
      flush: !values['no-flush'],
      onOutput: async (output) => {
        if (file && !file.write(`${line(output)}\n`)) await once(file, 'drain');
        if (publisher) {
          pending.push(
            publisher.publish(toOutgoing(output, scheme, spec.name, stream)).then((ack) => {
              if (ack.duplicate) duplicates++;
              else published++;
            }),
          );
          if (pending.length >= 1000) await Promise.all(pending.splice(0));
        }
      },
    });
    await Promise.all(pending);
    if (file && file !== process.stdout) {
      const closed = once(file, 'finish');
      file.end();
      await closed;
    }
    report(
      JSON.stringify(
        {
          ...result,
          ...(publisher ? { published, duplicates } : {}),
          seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
        },
        null,
        2,
      ),
    );
    return 0;
  } finally {
    await nats.nc.close();
  }
}
