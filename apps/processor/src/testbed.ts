/**
 * Test support for the processor's int specs: an isolated stream namespace with the platform's streams, a
 * reproducible input stream, processors in-process or as child processes, and readers for what they produced.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { SubjectScheme } from '@tideway/events';
import { JetStreamPublisher, applyDefinitions, inNamespace, loadDefinitions, streamName } from '@tideway/nats';
import { parsePipelineSpec, processorConsumerName, type PipelineSpec, type PipelineSpecInput } from '@tideway/pipeline';
import type { FixtureMessage } from '@tideway/pipeline/internal';
import { deleteStreams, natsNamespace, waitFor } from '@tideway/testing';
import { loadProcessorConfig } from './config.ts';
import { startProcessor, type RunningProcessor } from './service.ts';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** A stored message, as read back. */
export interface ReadMessage {
  readonly seq: number;
  readonly subject: string;
  readonly headers: Record<string, string>;
  readonly data: string;
}

/** An isolated processor environment on the shared NATS server. */
export interface Testbed extends AsyncDisposable {
  readonly env: Record<string, string>;
  readonly scheme: SubjectScheme;
  readonly spec: PipelineSpec;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  stream(base: 'EVENTS' | 'DERIVED' | 'QUARANTINE' | 'LATE'): string;
  /** Publishes messages to EVENTS in order; checks each got the next sequence. */
  publish(messages: readonly FixtureMessage[]): Promise<number>;
  /** Starts a processor in this process. */
  start(overrides?: Record<string, string>): Promise<RunningProcessor>;
  /** Starts a processor as a child process (which a test may SIGKILL). */
  spawn(overrides?: Record<string, string>): ChildProcess;
  /** Resolves once every partition consumer of the pipeline has processed and acknowledged everything. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Every message of a stream, in stream order. */
  read(base: 'EVENTS' | 'DERIVED' | 'QUARANTINE' | 'LATE'): Promise<ReadMessage[]>;
  /** Messages in a stream. */
  count(base: 'EVENTS' | 'DERIVED' | 'QUARANTINE' | 'LATE'): Promise<number>;
}

/** Creates a testbed running `pipeline` over `partitions` partitions. */
export async function createTestbed(pipeline: PipelineSpecInput, options: { partitions?: number } = {}): Promise<Testbed> {
  const ns = natsNamespace();
  const spec = parsePipelineSpec(pipeline);
  const pipelinesDir = await mkdtemp(join(tmpdir(), 'tideway-pipelines-'));
  await writeFile(join(pipelinesDir, `${spec.name}.pipeline.json`), JSON.stringify(pipeline, null, 2));
  const partitions = options.partitions ?? 8;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    TIDEWAY_SUBJECT_ROOT: ns.subjectRoot,
    TIDEWAY_STREAM_SUFFIX: ns.streamSuffix,
    TIDEWAY_PARTITIONS: String(partitions),
    STREAMS_DIR: `${repoRoot}streams`,
    PIPELINES_DIR: pipelinesDir,
    PROCESSOR_PORT: '0',
    PROCESSOR_PROVISIONAL_AFTER_MS: '0',
    PROCESSOR_LEASE_MS: '3000',
    LOG_LEVEL: 'warn',
  };
  const scheme = { root: ns.subjectRoot, partitions };
  const nc = await connect({ servers: env['NATS_URL']!, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  await applyDefinitions(jsm, inNamespace(await loadDefinitions(env['STREAMS_DIR']!), ns));
  const stream = (base: string): string => streamName(base, ns);
  const running: RunningProcessor[] = [];
  const children: ChildProcess[] = [];

  const read = async (base: 'EVENTS' | 'DERIVED' | 'QUARANTINE' | 'LATE'): Promise<ReadMessage[]> => {
    const info = await jsm.consumers.add(stream(base), { ack_policy: 'none', deliver_policy: 'all', mem_storage: true, inactive_threshold: 30_000_000_000 });
    const out: ReadMessage[] = [];
    try {
      const consumer = await jetstream(nc).consumers.get(stream(base), info.name);
      let remaining = info.num_pending;
      let done = remaining === 0;
      while (!done) {
        let received = 0;
        for await (const m of (await consumer.fetch({ max_messages: Math.min(1000, remaining), expires: 2000 })) as AsyncIterable<JsMsg>) {
          remaining--;
          received++;
          const headers: Record<string, string> = {};
          for (const [k, v] of m.headers ?? []) headers[k] = v[0] ?? '';
          out.push({ seq: m.seq, subject: m.subject, headers, data: m.string() });
          if (m.info.pending === 0) done = true;
        }
        if (received === 0) done = true;
      }
    } finally {
      await jsm.consumers.delete(stream(base), info.name).catch(() => undefined);
    }
    return out;
  };

  return {
    env,
    scheme,
    spec,
    nc,
    jsm,
    stream,
    publish: async (messages) => {
      const publisher = new JetStreamPublisher(nc, { maxInFlight: 256 });
      const first = (await jsm.streams.info(stream('EVENTS'))).state.last_seq + 1;
      // fixtures may be generated for another namespace: their subjects move to this one's root
      const subject = (s: string): string => `${ns.subjectRoot}${s.slice(s.indexOf('.'))}`;
      const acks = await Promise.all(messages.map((m) => publisher.publish({ subject: subject(m.subject), payload: m.payload, msgId: `${m.msgId}@${first}` })));
      acks.forEach((ack, i) => {
        if (ack.stream !== stream('EVENTS') || ack.seq !== first + i || ack.duplicate) throw new Error(`message ${i} stored in ${ack.stream} at ${ack.seq}, expected ${first + i}`);
      });
      return acks.at(-1)?.seq ?? first - 1;
    },
    start: async (overrides = {}) => {
      const processor = await startProcessor(loadProcessorConfig({ ...env, ...overrides }), { handleSignals: false });
      running.push(processor);
      return processor;
    },
    spawn: (overrides = {}) => {
      const child = spawn(process.execPath, ['--import', 'tsx', `${repoRoot}apps/processor/src/main.ts`], {
        env: { ...env, ...overrides },
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      return child;
    },
    caughtUp: async (timeoutMs = 60_000) => {
      const last = (await jsm.streams.info(stream('EVENTS'))).state.last_seq;
      await waitFor(
        async () => {
          for (let p = 0; p < partitions; p++) {
            const info = await jsm.consumers.info(stream('EVENTS'), processorConsumerName(spec.name, p));
            if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
          }
          return last > 0;
        },
        { timeoutMs, intervalMs: 100, description: `pipeline ${spec.name} caught up with EVENTS` },
      );
    },
    read,
    count: async (base) => (await jsm.streams.info(stream(base))).state.messages,
    [Symbol.asyncDispose]: async () => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const p of running) await p.close().catch(() => undefined);
      await nc.close();
      await deleteStreams(env['NATS_URL']!, ns.streamSuffix);
      await rm(pipelinesDir, { recursive: true, force: true });
    },
  };
}

/** Derived events by id, as the exact stored JSON. */
export function derivedById(messages: readonly ReadMessage[]): Map<string, string> {
  const byId = new Map<string, string>();
  for (const m of messages) byId.set((JSON.parse(m.data) as { id: string }).id, m.data);
  return byId;
}

/** Side outputs in a namespace-free form: subject after the root, the reason headers and the bytes. */
export function sideOutputs(messages: readonly ReadMessage[]): string[] {
  return messages
    .map((m) =>
      JSON.stringify([
        m.subject.slice(m.subject.indexOf('.') + 1),
        m.headers['Tideway-Pipeline'],
        m.headers['Tideway-Stage'],
        m.headers['Tideway-Reason'],
        m.headers['Tideway-Reason-Detail'],
        m.headers['Tideway-Origin-Seq'],
        m.headers['Tideway-Watermark'],
        m.data,
      ]),
    )
    .sort();
}

/**
 * Compares two id → JSON maps and describes the first differences compactly (vitest's diff of thousands of
 * entries is unreadable); empty when equal.
 */
export function differences(actual: ReadonlyMap<string, string>, expected: ReadonlyMap<string, string>, max = 3): string[] {
  const out: string[] = [];
  for (const [id, json] of expected) {
    if (out.length >= max) break;
    const other = actual.get(id);
    if (other === undefined) out.push(`missing ${id}: ${json}`);
    else if (other !== json) out.push(`differs ${id}:\n  actual   ${other}\n  expected ${json}`);
  }
  for (const [id, json] of actual) {
    if (out.length >= max) break;
    if (!expected.has(id)) out.push(`unexpected ${id}: ${json}`);
  }
  if (actual.size !== expected.size) out.push(`sizes ${actual.size} vs ${expected.size}`);
  return out;
}
