/**
 * The pure core of a pipeline: one instance per (pipeline, partition). It turns the partition's stream messages,
 * in stream order, into derived events and side outputs by pushing them through the pipeline's RxJS operator
 * chain, synchronously, and it can snapshot every operator's state together with the position it reflects.
 *
 * Results depend only on the sequence of messages of the partition (their bytes and the time JetStream stored
 * them): no wall clock, no timers. That is what makes a restart from a checkpoint, another replica, or a bounded
 * replay produce exactly the same derived events.
 */
import { Observable, Subject, ignoreElements, map, merge, share, tap, type OperatorFunction } from 'rxjs';
import {
  DerivedEventType,
  deterministicId,
  parseEventSubject,
  parseTime,
  type AlertRaisedData,
  type AnomalyDetectedData,
  type EventEnvelope,
  type SubjectScheme,
  type WindowResultData,
} from '@tideway/events';
import {
  CombinedDetector,
  StateRegistry,
  alerts,
  anomalies,
  anomalyScores,
  dedupeById,
  hopping,
  isOperatorError,
  lateGate,
  ofKind,
  session,
  tumbling,
  validateEvents,
  windowAggregate,
  type AlertEvent,
  type AnomalyEvent,
  type DetectorCheckpoint,
  type InvalidEvent,
  type Json,
  type LateEvent,
  type ValidEvent,
  type WindowOutput,
  type WindowSpec,
} from '@tideway/operators';
import { LogClock } from './clock.ts';
import { PipelineError, PipelineErrorCode } from './errors.ts';
import { detectorOptions, specHash, type AnomalyStage, type PipelineSpec, type WindowStage } from './spec.ts';
import { aggregateByName, traced, type TracedInput, type TracedResult } from './traced.ts';

/** One message of the source stream, as the engine needs it. */
export interface SourceMessage {
  /** Stream sequence. */
  readonly seq: number;
  readonly subject: string;
  /** The stored bytes (a JSON envelope, unless something wrote garbage). */
  readonly data: Uint8Array;
  /**
   * When JetStream stored the message (ms since the epoch): the pipeline's processing-time clock for envelopes
   * without `recordedtime` (which the gateway always sets and which takes precedence).
   */
  readonly storedAt: number;
}

/** A derived event to publish. */
export interface DerivedOutput {
  readonly kind: 'derived';
  readonly type: DerivedEventType;
  readonly partition: number;
  readonly event: EventEnvelope;
}

/**
 * An input the pipeline could not use (`invalid`: malformed envelope, unexpected schema version, missing key,
 * bad time, time too far in the future, missing or non-numeric value) or received behind its event-time horizon
 * (`late`). It carries the original bytes so it can be kept in the quarantine or late stream.
 */
export interface RejectedOutput {
  readonly kind: 'invalid' | 'late';
  /** `input` for checks at the pipeline's edge, else the stage that rejected it. */
  readonly stage: string;
  /** Stable reason code, e.g. `non-numeric-value`, `before-watermark-horizon`. */
  readonly reason: string;
  readonly detail?: string;
  readonly seq: number;
  readonly subject: string;
  readonly tenant: string;
  readonly partition: number;
  /** The input's event type (from its subject). */
  readonly type: string;
  readonly data: Uint8Array;
  /** For `late`: the stage's watermark when the input arrived (ms). */
  readonly watermark?: number;
}

/** Everything an engine emits. */
export type EngineOutput = DerivedOutput | RejectedOutput;

/** Reasons the engine itself (before any operator) rejects an input. */
export const EdgeRejectReason = {
  /** Not a JSON object with string `id` and `source`, or on a subject outside the scheme. */
  MalformedEvent: 'malformed-event',
  /** `dataschema` is not one the pipeline accepts. */
  UnexpectedSchemaVersion: 'unexpected-schema-version',
} as const;

/** What a checkpoint holds: the position, the state of every operator, and what the state was built by. */
export interface EngineCheckpoint {
  readonly v: 1;
  readonly pipeline: string;
  readonly partition: number;
  /** {@link specHash} of the definition that wrote it. */
  readonly specHash: string;
  /** The last stream sequence reflected in the state (0: none). */
  readonly lastSeq: number;
  /** The log clock at that point. */
  readonly logTime: number;
  /** The last input with a usable envelope: the cause of results emitted at end of input. */
  readonly trigger: { readonly id: string; readonly correlationid?: string } | null;
  /** Operator states by slot name (see `StateRegistry`). */
  readonly operators: Readonly<Record<string, Json>>;
}

/** Counters since the engine was built. */
export interface EngineCounters {
  /** Messages processed (each counted once, whatever became of it). */
  messages: number;
  duplicates: number;
  invalid: number;
  late: number;
  windowResults: number;
  provisionalResults: number;
  anomalies: number;
  alerts: number;
}

interface InputRecord {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly tenant: string;
  readonly partition: number;
  readonly type: string;
  readonly envelope: Readonly<Record<string, unknown>>;
}

type Valid = ValidEvent<InputRecord>;
/** What anomaly scoring + thresholding emit. */
type Scored = AnomalyEvent<Valid> | InvalidEvent<Valid> | DetectorCheckpoint;

/** Reads a dot path (`data.reading_value`) from an object. */
export function readPath(root: unknown, path: string): unknown {
  return readParts(root, path.split('.'));
}

/** {@link readPath} over a path split once (the engine reads the same two paths from every input). */
function readParts(root: unknown, parts: readonly string[]): unknown {
  let node = root;
  for (let i = 0; i < parts.length; i++) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[parts[i] as string];
  }
  return node;
}

/** An event subject's parts, as {@link parseEventSubject} returns them (undefined: not an event subject). */
type SubjectParts = ReturnType<typeof parseEventSubject>;

/**
 * Subjects seen most recently, parsed. A partition's inputs come on a handful of subjects (tenant × type), so
 * parsing each distinct subject once replaces a split and join per message. Bounded: cleared when full.
 */
const SUBJECT_CACHE_SIZE = 1_024;
/** Bound of the composite-key cache, per tenant and of tenants (cleared when full). */
const KEY_CACHE_SIZE = 10_000;

/** Keys are kept apart per tenant: the operators see `<tenant>/<key>` (tenants never contain `/`). */
function splitKey(composite: string): { tenant: string; key: string } {
  const i = composite.indexOf('/');
  return { tenant: composite.slice(0, i), key: composite.slice(i + 1) };
}

/**
 * The bytes as a plain `Uint8Array` (a view, not a copy): the NATS client hands out a `Buffer` or a `Uint8Array`
 * depending on where a message fell in the socket's reads, and a rejected output should not differ by that.
 */
function plainBytes(data: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(data) === Uint8Array.prototype ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function windowSpecOf(stage: WindowStage): WindowSpec {
  const w = stage.window;
  switch (w.type) {
    case 'tumbling':
      return tumbling(w.sizeMs, { offsetMs: w.offsetMs });
    case 'hopping':
      return hopping(w.sizeMs, w.slideMs, { offsetMs: w.offsetMs });
    case 'session':
      return session(w.gapMs);
  }
}

const decoder = new TextDecoder();

/** Options of {@link PipelineEngine}. */
export interface PipelineEngineOptions {
  readonly scheme: SubjectScheme;
  readonly partition: number;
  /** Continue from this checkpoint (it must come from the same pipeline definition and partition). */
  readonly checkpoint?: EngineCheckpoint;
}

/**
 * One pipeline over one partition.
 *
 * @example
 * const engine = new PipelineEngine(spec, { scheme, partition: 3, checkpoint: saved });
 * for (const msg of batch) publish(engine.process(msg));
 * save(engine.checkpoint()); // then ack the batch
 */
export class PipelineEngine {
  readonly spec: PipelineSpec;
  readonly partition: number;
  readonly hash: string;
  readonly counters: EngineCounters = { messages: 0, duplicates: 0, invalid: 0, late: 0, windowResults: 0, provisionalResults: 0, anomalies: 0, alerts: 0 };
  private readonly scheme: SubjectScheme;
  private readonly clock = new LogClock();
  private readonly registry: StateRegistry;
  private readonly input$ = new Subject<InputRecord>();
  private readonly provisional$ = new Subject<void>();
  private readonly source: string;
  private sink: EngineOutput[] = [];
  private seq = 0;
  private trigger: { id: string; correlationid?: string } | null = null;
  /** The envelope `trigger` is to be taken from, when it changed since (read only when a result needs it). */
  private triggerEnvelope: Record<string, unknown> | undefined;
  private maxEventTime = -Infinity;
  /** Inputs that got past de-duplication. */
  private passed = 0;
  private closed = false;
  private failure: unknown;
  private readonly subjects = new Map<string, SubjectParts>();
  /** Composite keys handed out, by tenant and key (see `compositeKey`). */
  private readonly keys = new Map<string, Map<string | number, string>>();
  private readonly keyPath: readonly string[];
  private readonly valuePath: readonly string[];

  constructor(spec: PipelineSpec, options: PipelineEngineOptions) {
    this.spec = spec;
    this.partition = options.partition;
    this.scheme = options.scheme;
    this.hash = specHash(spec);
    this.source = `urn:tideway:pipeline:${spec.name}`;
    this.keyPath = spec.key.split('.');
    this.valuePath = spec.value.split('.');
    const saved = options.checkpoint;
    if (saved) {
      if (saved.pipeline !== spec.name || saved.partition !== options.partition) {
        throw new PipelineError(PipelineErrorCode.CorruptCheckpoint, `checkpoint of ${saved.pipeline}/${saved.partition} handed to ${spec.name}/${options.partition}`);
      }
      if (saved.specHash !== this.hash) {
        throw new PipelineError(
          PipelineErrorCode.PipelineChanged,
          `pipeline ${spec.name} changed since partition ${options.partition} was checkpointed at seq ${saved.lastSeq} (definition ${saved.specHash}, now ${this.hash}); give the changed pipeline a new name`,
        );
      }
      this.seq = saved.lastSeq;
      this.clock.set(saved.logTime);
      this.trigger = saved.trigger ? { ...saved.trigger } : null;
    }
    this.registry = new StateRegistry(saved?.operators ?? {});
    try {
      this.build().subscribe({
        next: (item) => {
          if (item) this.sink.push(item);
        },
        error: (error: unknown) => (this.failure = error),
      });
    } catch (error) {
      if (isOperatorError(error)) throw new PipelineError(PipelineErrorCode.CorruptCheckpoint, `cannot restore ${spec.name}/${options.partition}: ${error.message}`, { cause: error });
      throw error;
    }
    this.throwIfFailed();
  }

  /** The last stream sequence processed (0 before the first). */
  get lastSeq(): number {
    return this.seq;
  }

  /** The partition's event-time watermark as far as this engine has seen inputs since it was built (ms). */
  get watermark(): number {
    return this.maxEventTime - this.spec.time.maxOutOfOrdernessMs;
  }

  /**
   * Processes the next message of the partition and returns what it caused. Messages at or below
   * {@link PipelineEngine.lastSeq} were processed already (a redelivery) and are ignored.
   */
  process(msg: SourceMessage): EngineOutput[] {
    this.assertOpen();
    if (msg.seq <= this.seq) return [];
    this.seq = msg.seq;
    this.counters.messages++;
    const subject = this.parseSubject(msg.subject);
    if (!subject) return this.rejectInput(msg, subject, EdgeRejectReason.MalformedEvent, `subject ${msg.subject} is not an event subject`);
    const { tenant, type } = subject;
    let envelope: unknown;
    try {
      envelope = JSON.parse(decoder.decode(msg.data));
    } catch (error) {
      return this.rejectInput(msg, subject, EdgeRejectReason.MalformedEvent, `not JSON: ${(error as Error).message}`);
    }
    if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) return this.rejectInput(msg, subject, EdgeRejectReason.MalformedEvent, 'not a JSON object');
    const env = envelope as Record<string, unknown>;
    if (typeof env['id'] !== 'string' || typeof env['source'] !== 'string') return this.rejectInput(msg, subject, EdgeRejectReason.MalformedEvent, 'id and source must be strings');
    // The clock is the time the gateway recorded the event (part of the payload), else the time JetStream stored it.
    const recorded = typeof env['recordedtime'] === 'string' ? parseTime(env['recordedtime']) : NaN;
    this.clock.set(Number.isFinite(recorded) ? recorded : msg.storedAt);
    this.triggerEnvelope = env;
    const accepted = this.spec.source.dataschemas;
    const dataschema = env['dataschema'];
    if (accepted && dataschema !== undefined && !accepted.includes(dataschema as string)) {
      return this.rejectInput(msg, subject, EdgeRejectReason.UnexpectedSchemaVersion, `dataschema ${JSON.stringify(dataschema)} is not one of ${accepted.join(', ')}`);
    }
    this.sink = [];
    const passed = this.passed;
    this.input$.next({ seq: msg.seq, subject: msg.subject, data: msg.data, tenant, partition: subject.partition, type, envelope: env });
    if (this.passed === passed) this.counters.duplicates++;
    this.throwIfFailed();
    return this.take();
  }

  private parseSubject(subject: string): SubjectParts {
    let parts = this.subjects.get(subject);
    if (parts === undefined && !this.subjects.has(subject)) {
      parts = parseEventSubject(this.scheme, subject);
      if (this.subjects.size >= SUBJECT_CACHE_SIZE) this.subjects.clear();
      this.subjects.set(subject, parts);
    }
    return parts;
  }

  /** An input rejected at the pipeline's edge, before any operator saw it. */
  private rejectInput(msg: SourceMessage, subject: SubjectParts, reason: string, detail: string): EngineOutput[] {
    this.counters.invalid++;
    const tenant = subject?.tenant ?? 'unknown';
    const type = subject?.type ?? 'unknown';
    return [{ kind: 'invalid', stage: 'input', reason, detail, seq: msg.seq, subject: msg.subject, tenant, partition: this.partition, type, data: plainBytes(msg.data) }];
  }

  /**
   * A provisional result for every open window that has not fired yet (live mode, when the partition went quiet).
   * Changes no state; the windows' real results follow once event time moves past them.
   */
  provisional(): EngineOutput[] {
    this.assertOpen();
    this.sink = [];
    this.provisional$.next();
    this.throwIfFailed();
    return this.take();
  }

  /** End of a bounded input: every open window emits its final result. The engine cannot be used afterwards. */
  flush(): EngineOutput[] {
    this.assertOpen();
    this.sink = [];
    this.input$.complete();
    this.closed = true;
    this.throwIfFailed();
    return this.take();
  }

  /** The state as of {@link PipelineEngine.lastSeq}, JSON-serialisable. */
  checkpoint(): EngineCheckpoint {
    return {
      v: 1,
      pipeline: this.spec.name,
      partition: this.partition,
      specHash: this.hash,
      lastSeq: this.seq,
      logTime: this.clock.now(),
      trigger: this.lastTrigger(),
      operators: this.registry.snapshot(),
    };
  }

  /** The last input with a usable envelope (its id and correlation id), or the checkpoint's. */
  private lastTrigger(): { id: string; correlationid?: string } | null {
    const env = this.triggerEnvelope;
    if (env !== undefined) {
      this.trigger = this.cause(env);
      this.triggerEnvelope = undefined;
    }
    return this.trigger;
  }

  private take(): EngineOutput[] {
    const out = this.sink;
    this.sink = [];
    return out;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`pipeline engine ${this.spec.name}/${this.partition} was flushed`);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure === undefined) return;
    throw this.failure instanceof Error ? this.failure : new Error(`pipeline ${this.spec.name}/${this.partition} failed: ${JSON.stringify(this.failure)}`);
  }

  // -------------------------------------------------------------------------------------------------------------
  // The operator chain

  private build(): Observable<EngineOutput | undefined> {
    const spec = this.spec;
    const time = spec.time;
    const deduped$: Observable<InputRecord> = spec.dedupe
      ? this.input$.pipe(
          dedupeById((r: InputRecord) => `${r.tenant}\u0000${r.envelope['source'] as string}\u0000${r.envelope['id'] as string}`, {
            maxIds: spec.dedupe.maxIds,
            scheduler: this.clock,
            state: this.registry.slot('dedupe'),
          }),
        )
      : this.input$;
    // Side outputs (invalid, late) leave the chain where they arise, straight into the outputs, instead of through
    // a shared stream filtered once per kind: the same outputs in the same order, with fewer hops per input.
    const valid$ = deduped$.pipe(
      tap(() => this.passed++),
      validateEvents<InputRecord>({
        key: (r) => this.compositeKey(r.tenant, readParts(r.envelope, this.keyPath)),
        eventTime: (r) => (typeof r.envelope['time'] === 'string' ? parseTime(r.envelope['time']) : NaN),
        value: (r) => readParts(r.envelope, this.valuePath),
        maxFutureMs: time.maxFutureMs,
        scheduler: this.clock,
      }),
      divert<Valid | InvalidEvent<InputRecord>, 'valid'>('valid', (item) => this.output(this.rejected('invalid', 'input', item))),
      tap((v) => {
        if (v.time > this.maxEventTime) this.maxEventTime = v.time;
      }),
      share(),
    );
    const branches: Observable<EngineOutput | undefined>[] = [];
    for (const stage of spec.windows) branches.push(this.windowBranch(stage, valid$));
    if (spec.anomaly) branches.push(this.anomalyBranch(spec.anomaly, valid$));
    return merge(...branches);
  }

  private output(item: EngineOutput): void {
    this.sink.push(item);
  }

  /**
   * The operators' key of an input: `<tenant>/<key>` (`''` when the key is missing: the validation rejects it).
   * The same key strings are handed out again for every input of a key, so the maps keyed by them downstream
   * (windows, detectors) hash each key once rather than once per input.
   */
  private compositeKey(tenant: string, k: unknown): string {
    if (typeof k === 'string' ? k === '' : typeof k !== 'number' || !Number.isFinite(k)) return '';
    return this.cachedKey(tenant, k as string | number);
  }

  private cachedKey(tenant: string, k: string | number): string {
    let byKey = this.keys.get(tenant);
    if (byKey === undefined) {
      if (this.keys.size >= KEY_CACHE_SIZE) this.keys.clear();
      byKey = new Map();
      this.keys.set(tenant, byKey);
    }
    let composite = byKey.get(k);
    if (composite === undefined) {
      composite = `${tenant}/${k}`;
      if (byKey.size >= KEY_CACHE_SIZE) byKey.clear();
      byKey.set(k, composite);
    }
    return composite;
  }

  private windowBranch(stage: WindowStage, valid$: Observable<Valid>): Observable<EngineOutput | undefined> {
    const time = this.spec.time;
    const out$ = valid$.pipe(
      windowAggregate<Valid, TracedInput, unknown, TracedResult<unknown>>({
        window: windowSpecOf(stage),
        key: (v) => v.key,
        eventTime: (v) => v.time,
        value: (v) => ({ v: v.value, seq: v.event.seq }),
        aggregate: traced(aggregateByName(stage.aggregate)),
        maxOutOfOrdernessMs: time.maxOutOfOrdernessMs,
        allowedLatenessMs: time.allowedLatenessMs,
        maxFutureMs: Infinity,
        scheduler: this.clock,
        state: this.registry.slot(`window:${stage.name}`),
        provisional: this.provisional$,
      }),
    );
    return mapSync(out$, (item: WindowOutput<Valid, TracedResult<unknown>>) => {
      switch (item.kind) {
        case 'result':
          return this.windowResult(stage, item);
        case 'late':
          return this.rejected('late', stage.name, item);
        case 'invalid':
          return this.rejected('invalid', stage.name, item);
        default:
          return undefined;
      }
    });
  }

  private anomalyBranch(stage: AnomalyStage, valid$: Observable<Valid>): Observable<EngineOutput | undefined> {
    const time = this.spec.time;
    const options = detectorOptions(stage);
    const gated$ = valid$.pipe(
      lateGate<Valid>({
        key: (v) => v.key,
        eventTime: (v) => v.time,
        maxOutOfOrdernessMs: time.maxOutOfOrdernessMs,
        allowedLatenessMs: time.allowedLatenessMs,
        state: this.registry.slot(`anomaly:${stage.name}:gate`),
      }),
      divert<Valid | LateEvent<Valid>, 'valid'>('valid', (item) => this.output(this.rejected('late', stage.name, item))),
    );
    const scored$ = gated$.pipe(
      anomalyScores<Valid>({
        key: (v) => v.key,
        value: (v) => v.value,
        eventTime: (v) => v.time,
        detector: () => new CombinedDetector(options),
        state: this.registry.slot(`anomaly:${stage.name}:detectors`),
      }),
      anomalies(stage.threshold),
      // each anomaly is output before the alert it may raise
      tap((item: Scored) => {
        if (item.kind === 'anomaly') this.output(this.anomalyEvent(stage, item));
        else if (item.kind === 'invalid') this.output(this.rejected('invalid', stage.name, item));
      }),
    );
    if (stage.alerts === false) return scored$.pipe(ignoreElements());
    const alerts$ = scored$.pipe(
      ofKind<Scored, 'anomaly'>('anomaly'),
      alerts<AnomalyEvent<Valid>>({ cooldownMs: stage.alerts.cooldownMs, clock: 'event', scheduler: this.clock, state: this.registry.slot(`anomaly:${stage.name}:alerts`) }),
    );
    return mapSync(alerts$, (item) => (item.kind === 'alert' ? this.alertEvent(stage, item) : undefined));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Outputs

  private rejected(kind: 'invalid' | 'late', stage: string, item: InvalidEvent<InputRecord> | InvalidEvent<Valid> | LateEvent<Valid>): RejectedOutput {
    const record: InputRecord = 'kind' in item.event && item.event.kind === 'valid' ? item.event.event : (item.event as InputRecord);
    if (kind === 'late') this.counters.late++;
    else this.counters.invalid++;
    const base = { kind, stage, seq: record.seq, subject: record.subject, tenant: record.tenant, partition: record.partition, type: record.type, data: plainBytes(record.data) };
    if (item.kind === 'late') return { ...base, reason: item.reason, detail: `event time ${iso(item.eventTime)} is behind the watermark ${iso(item.watermark)}`, watermark: item.watermark };
    return item.detail === undefined ? { ...base, reason: item.reason } : { ...base, reason: item.reason, detail: item.detail };
  }

  private envelope<T>(type: DerivedEventType, id: string, tenant: string, key: string, time: number, data: T, causation: { id: string; correlationid?: string } | null): DerivedOutput {
    const event: EventEnvelope = {
      specversion: '1.0',
      id,
      source: this.source,
      type,
      subject: key,
      time: iso(time),
      datacontenttype: 'application/json',
      data,
      tenant,
      partitionkey: key,
      ...(causation ? { causationid: causation.id, correlationid: causation.correlationid ?? causation.id } : {}),
      recordedtime: iso(this.clock.now()),
    };
    return { kind: 'derived', type, partition: this.partition, event };
  }

  private windowResult(stage: WindowStage, item: WindowOutput<Valid, TracedResult<unknown>> & { kind: 'result' }): DerivedOutput {
    const { tenant, key } = splitKey(item.window.key);
    const provisional = item.provisional === true;
    if (provisional) this.counters.provisionalResults++;
    else this.counters.windowResults++;
    const variant = provisional ? `provisional-${item.count}` : item.final ? 'final' : 'partial';
    const id = deterministicId('window', this.spec.name, stage.name, tenant, key, item.window.start, item.window.end, item.updateCount, variant);
    const data: WindowResultData = {
      pipeline: this.spec.name,
      stage: stage.name,
      key,
      window: { key, start: iso(item.window.start), end: iso(item.window.end) },
      aggregate: stage.aggregate,
      value: item.value.value,
      count: item.count,
      final: item.final,
      provisional,
      updateCount: item.updateCount,
      trigger: item.trigger,
      replaces: item.replaces.map((r) => ({ start: iso(r.start), end: iso(r.end) })),
      lineage: { partition: this.partition, firstSeq: item.value.firstSeq, lastSeq: item.value.lastSeq, emittedAtSeq: this.seq },
    };
    return this.envelope(DerivedEventType.WindowResult, id, tenant, key, item.window.end, data, this.lastTrigger());
  }

  private anomalyId(stage: AnomalyStage, record: InputRecord): string {
    return deterministicId('anomaly', this.spec.name, stage.name, record.tenant, record.envelope['source'] as string, record.envelope['id'] as string);
  }

  /** An input's id and correlation id (when a string). */
  private cause(envelope: Readonly<Record<string, unknown>>): { id: string; correlationid?: string } {
    const id = envelope['id'] as string;
    const correlation = envelope['correlationid'];
    return typeof correlation === 'string' ? { id, correlationid: correlation } : { id };
  }

  private anomalyEvent(stage: AnomalyStage, item: AnomalyEvent<Valid>): DerivedOutput {
    this.counters.anomalies++;
    const record = item.event.event;
    const { tenant, key } = splitKey(item.key);
    const time = item.time ?? item.event.time;
    const data: AnomalyDetectedData = {
      pipeline: this.spec.name,
      stage: stage.name,
      key,
      value: item.value,
      score: item.score,
      threshold: item.threshold,
      components: { ...item.components },
      eventTime: iso(time),
      input: { id: record.envelope['id'] as string, source: record.envelope['source'] as string, seq: record.seq },
      lineage: { partition: this.partition, firstSeq: record.seq, lastSeq: record.seq, emittedAtSeq: this.seq },
    };
    return this.envelope(DerivedEventType.AnomalyDetected, this.anomalyId(stage, record), tenant, key, time, data, this.cause(record.envelope));
  }

  private alertEvent(stage: AnomalyStage, item: AlertEvent<Valid>): DerivedOutput {
    this.counters.alerts++;
    const anomaly = item.anomaly;
    const record = anomaly.event.event;
    const { tenant, key } = splitKey(item.key);
    const anomalyId = this.anomalyId(stage, record);
    const more = item.suppressedBefore > 0 ? ` (${item.suppressedBefore} more anomalies since the previous alert)` : '';
    const data: AlertRaisedData = {
      pipeline: this.spec.name,
      stage: stage.name,
      key,
      value: anomaly.value,
      score: anomaly.score,
      threshold: anomaly.threshold,
      at: iso(item.at),
      suppressedBefore: item.suppressedBefore,
      anomalyId,
      summary: `Anomaly in pipeline ${this.spec.name}: ${key} (tenant ${tenant}) reported ${anomaly.value} at ${iso(item.at)}, score ${anomaly.score.toFixed(2)} ≥ ${anomaly.threshold}${more}`,
      input: { id: record.envelope['id'] as string, source: record.envelope['source'] as string, seq: record.seq },
      lineage: { partition: this.partition, firstSeq: record.seq, lastSeq: record.seq, emittedAtSeq: this.seq },
    };
    const input = this.cause(record.envelope);
    return this.envelope(DerivedEventType.AlertRaised, deterministicId('alert', this.spec.name, stage.name, anomalyId), tenant, key, item.at, data, {
      id: anomalyId,
      correlationid: input.correlationid ?? input.id,
    });
  }
}

/**
 * Passes on the items of one kind and hands every other item to `side`, in stream order (a side output that needs
 * no second subscriber).
 */
function divert<T extends { readonly kind: string }, K extends T['kind']>(kind: K, side: (item: Exclude<T, { kind: K }>) => void): OperatorFunction<T, Extract<T, { kind: K }>> {
  return (source) =>
    new Observable<Extract<T, { kind: K }>>((subscriber) =>
      source.subscribe({
        next: (item) => {
          if (item.kind === kind) return subscriber.next(item as Extract<T, { kind: K }>);
          try {
            side(item as Exclude<T, { kind: K }>);
          } catch (error) {
            subscriber.error(error);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

/** Maps every item (a named helper keeps the branch types readable). */
function mapSync<T, R>(source: Observable<T>, fn: (item: T) => R): Observable<R> {
  return source.pipe(map((item: T) => fn(item)));
}
