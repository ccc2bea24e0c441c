import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JetStreamApiError, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream';

/**
 * Streams and consumers are code: JSON files in the NATS CLI's configuration format under `streams/`
 *
 *     <STREAM>.stream.json                  → nats stream add --config <file>
 *     <STREAM>.<durable>.consumer.json      → nats consumer add <STREAM> --config <file>
 *
 * and our services apply them idempotently at start.
 */
export interface StreamDefinition {
  readonly file: string;
  readonly config: Record<string, unknown> & { name: string; subjects: string[] };
}
export interface ConsumerDefinition {
  readonly file: string;
  readonly stream: string;
  readonly config: Record<string, unknown> & { durable_name: string };
}
export interface Definitions {
  readonly streams: readonly StreamDefinition[];
  readonly consumers: readonly ConsumerDefinition[];
}

/**
 * Where a deployment's streams live. Production uses the files as they are; tests and side-by-side
 * deployments rewrite the subject root (`tw` → `t_abc123`) and suffix stream names so that many can share one
 * server without overlapping subjects.
 */
export interface Namespace {
  /** Replaces the leading `tw` of every subject and filter subject. */
  readonly subjectRoot: string;
  /** Appended to stream names (`EVENTS` → `EVENTS_abc123`). */
  readonly streamSuffix: string;
}

export const defaultNamespace: Namespace = { subjectRoot: 'tw', streamSuffix: '' };

const FILE_ROOT = 'tw';

export async function loadDefinitions(dir: string): Promise<Definitions> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const streams: StreamDefinition[] = [];
  const consumers: ConsumerDefinition[] = [];
  for (const file of files) {
    const config = JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
    if (file.endsWith('.stream.json')) {
      streams.push({ file, config: config as StreamDefinition['config'] });
    } else if (file.endsWith('.consumer.json')) {
      const stream = file.split('.')[0];
      if (!stream) throw new Error(`cannot tell the stream of consumer file ${file}`);
      consumers.push({ file, stream, config: config as ConsumerDefinition['config'] });
    }
  }
  return { streams, consumers };
}

function rewriteSubject(subject: string, ns: Namespace): string {
  return subject === FILE_ROOT || subject.startsWith(`${FILE_ROOT}.`) ? ns.subjectRoot + subject.slice(FILE_ROOT.length) : subject;
}

/** The stream name in a namespace. */
export function streamName(base: string, ns: Namespace): string {
  return `${base}${ns.streamSuffix}`;
}

/** The definitions as they apply in a namespace. */
export function inNamespace(defs: Definitions, ns: Namespace): Definitions {
  return {
    streams: defs.streams.map((d) => ({
      file: d.file,
      config: { ...d.config, name: streamName(d.config.name, ns), subjects: d.config.subjects.map((s) => rewriteSubject(s, ns)) },
    })),
    consumers: defs.consumers.map((d) => ({
      file: d.file,
      stream: streamName(d.stream, ns),
      config: {
        ...d.config,
        ...(typeof d.config['filter_subject'] === 'string'
          ? { filter_subject: rewriteSubject(d.config['filter_subject'], ns) }
          : {}),
      },
    })),
  };
}

export interface Drift {
  readonly field: string;
  readonly expected: unknown;
  readonly actual: unknown;
}
export interface ApplyResult {
  readonly kind: 'stream' | 'consumer';
  readonly name: string;
  readonly action: 'created' | 'updated' | 'unchanged';
  /** Fields where the server differed from the file before the update (empty when created or unchanged). */
  readonly drift: readonly Drift[];
}

function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === 10059 || error.code === 10014);
}

/**
 * Where a consumer starts is its position, not its configuration: a projection repositions its consumer at its
 * own checkpoint (see `positionConsumer`), so these fields are never reported as drift.
 */
const POSITION_FIELDS = new Set(['deliver_policy', 'opt_start_seq', 'opt_start_time']);

/** Fields of `expected` whose value differs on the server. Fields the file does not set are the server's business. */
export function diffConfig(expected: Record<string, unknown>, actual: Record<string, unknown>, ignore: ReadonlySet<string> = new Set()): Drift[] {
  const drift: Drift[] = [];
  for (const [field, want] of Object.entries(expected)) {
    if (ignore.has(field)) continue;
    const have = actual[field];
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      // The server omits false booleans, empty strings and zero values it treats as defaults.
      if ((want === false || want === '' || want === 0) && have === undefined) continue;
      drift.push({ field, expected: want, actual: have });
    }
  }
  return drift;
}

/**
 * Creates what is missing and updates what drifted, stream by stream then consumer by consumer. Safe to run
 * from every replica at every start.
 */
export async function applyDefinitions(jsm: JetStreamManager, defs: Definitions): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  for (const { config } of defs.streams) {
    const name = config.name;
    let current: Record<string, unknown> | undefined;
    try {
      current = (await jsm.streams.info(name)).config;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (!current) {
      await jsm.streams.add(config);
      results.push({ kind: 'stream', name, action: 'created', drift: [] });
      continue;
    }
    const drift = diffConfig(config, current);
    if (drift.length > 0) await jsm.streams.update(name, config);
    results.push({ kind: 'stream', name, action: drift.length > 0 ? 'updated' : 'unchanged', drift });
  }
  for (const { stream, config } of defs.consumers) {
    const name = config.durable_name;
    let current: Record<string, unknown> | undefined;
    try {
      current = (await jsm.consumers.info(stream, name)).config;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (!current) {
      await jsm.consumers.add(stream, config);
      results.push({ kind: 'consumer', name: `${stream}/${name}`, action: 'created', drift: [] });
      continue;
    }
    const drift = diffConfig(config, current, POSITION_FIELDS);
    if (drift.length > 0) {
      const update = Object.fromEntries(Object.entries(config).filter(([k]) => !POSITION_FIELDS.has(k)));
      await jsm.consumers.update(stream, name, update);
    }
    results.push({ kind: 'consumer', name: `${stream}/${name}`, action: drift.length > 0 ? 'updated' : 'unchanged', drift });
  }
  return results;
}

export interface PositionResult {
  readonly action: 'kept' | 'repositioned';
  /** The first stream sequence the consumer will deliver next. */
  readonly nextSeq: number;
  readonly reason?: string;
}

/**
 * Makes a durable consumer deliver from `nextSeq` on, in order. A projection whose checkpoint lives in its own
 * store calls this at start, while it holds the projection's single-writer lock: if the consumer has messages a
 * dead instance received but never acked (they would be redelivered only after `ack_wait`, and out of order
 * with new ones, which an ack-all consumer must not see), or its ack floor disagrees with the checkpoint (a
 * lost ack, a truncated or rebuilt store), the consumer is recreated at the checkpoint with the file's
 * configuration. NATS 2.9 has no consumer reset, so delete + add is the portable way.
 */
export async function positionConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: ConsumerDefinition['config'],
  nextSeq: number,
): Promise<PositionResult> {
  const name = config.durable_name;
  let reason: string | undefined;
  try {
    const info = await jsm.consumers.info(stream, name);
    if (info.num_ack_pending > 0) reason = `${info.num_ack_pending} messages delivered but unacknowledged`;
    else if (info.ack_floor.stream_seq !== nextSeq - 1) reason = `ack floor ${info.ack_floor.stream_seq} differs from checkpoint ${nextSeq - 1}`;
    if (!reason) return { action: 'kept', nextSeq };
    await jsm.consumers.delete(stream, name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    reason = 'consumer missing';
  }
  const positioned =
    nextSeq <= 1
      ? { ...config, deliver_policy: 'all' }
      : { ...config, deliver_policy: 'by_start_sequence', opt_start_seq: nextSeq };
  await jsm.consumers.add(stream, positioned as unknown as Partial<ConsumerConfig>);
  return { action: 'repositioned', nextSeq, reason };
}
