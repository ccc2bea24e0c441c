/**
 * The engine thread of a bounded replay (see `replay-host.ts`): runs one {@link PipelineEngine} per partition for
 * every open replay session, over the batches of messages the reader thread transfers, and sends back each batch's
 * outputs in order, then at the end the flushed windows and a report per partition.
 */
import { parentPort } from 'node:worker_threads';
import { PipelineEngine, type EngineOutput } from './engine.ts';
import { BatchReader, toWireError, type FromEngine, type PartitionReport, type ToEngine } from './replay-wire.ts';
import type { PipelineSpec } from './spec.ts';
import type { SubjectScheme } from '@tideway/events';

interface Session {
  readonly spec: PipelineSpec;
  readonly scheme: SubjectScheme;
  /** By partition. */
  readonly engines: PipelineEngine[];
}

const port = parentPort;
if (!port) throw new Error('replay-worker.ts runs as a worker thread');
const sessions = new Map<number, Session>();

/**
 * Outputs as they cross to the reader: a rejected input's bytes are copied out of the batch (cloning a view would
 * clone the whole transferred buffer with it).
 */
function detach(outputs: EngineOutput[]): EngineOutput[] {
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i]!;
    if (o.kind !== 'derived') outputs[i] = { ...o, data: o.data.slice() };
  }
  return outputs;
}

function post(message: FromEngine): void {
  port!.postMessage(message);
}

port.on('message', (message: ToEngine) => {
  const { session: id } = message;
  try {
    if (message.kind === 'open') {
      sessions.set(id, { spec: message.spec, scheme: message.scheme, engines: [] });
      return;
    }
    if (message.kind === 'close') {
      sessions.delete(id);
      return;
    }
    const session = sessions.get(id);
    if (!session) return; // failed before: the reader was told
    if (message.kind === 'batch') {
      const outputs: EngineOutput[] = [];
      const engines = session.engines;
      const reader = new BatchReader(message.buffer, message.count);
      while (reader.next()) {
        const partition = reader.partition;
        const engine = (engines[partition] ??= new PipelineEngine(session.spec, { scheme: session.scheme, partition }));
        const out = engine.process(reader.message!);
        for (let i = 0; i < out.length; i++) outputs.push(out[i]!);
      }
      post({ kind: 'outputs', session: id, outputs: detach(outputs) });
      return;
    }
    sessions.delete(id);
    const outputs: EngineOutput[] = [];
    const reports: PartitionReport[] = [];
    const done = new Set<number>();
    for (const partition of message.partitions) {
      const engine = session.engines[partition];
      // a partition listed twice is flushed and reported once (the reader lists it as often as it was asked for)
      if (!engine || done.has(partition)) continue;
      done.add(partition);
      if (message.flush) for (const o of engine.flush()) outputs.push(o);
      reports.push({ partition, lastSeq: engine.lastSeq, counters: { ...engine.counters } });
    }
    post({ kind: 'finished', session: id, outputs: detach(outputs), reports });
  } catch (error) {
    sessions.delete(id);
    post({ kind: 'failed', session: id, error: toWireError(error) });
  }
});
