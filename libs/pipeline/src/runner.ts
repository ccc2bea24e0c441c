/**
 * Live mode: one pipeline over one partition of the EVENTS stream, through a durable consumer, checkpointed in KV.
 *
 * Per batch, strictly in this order:
 *   1. the engine processes the batch's messages (in stream order) → derived events and side outputs;
 *   2. every output is published and acknowledged by JetStream (deterministic `Nats-Msg-Id`s);
 *   3. the checkpoint — operator state + the batch's last sequence — is written to KV (compare-and-set);
 *   4. the batch is acknowledged (ack-all on its last message).
 * A crash anywhere repeats at most steps 1–3 from the previous checkpoint: the engine is deterministic, so the
 * repeated outputs are byte-identical and JetStream drops them as duplicates; nothing is counted twice, nothing is
 * skipped.
 *
 * With a {@link LeaseStore}, a runner first takes the partition's lease (waiting as a standby while another worker
 * holds it), checks it before publishing and before checkpointing, and steps back to standby when it loses it.
 */
import { jetstream, jetstreamManager, JetStreamApiError, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SubjectScheme } from '@tideway/events';
import { BatchConsumer, positionConsumer, type JetStreamPublisher } from '@tideway/nats';
import type { CheckpointStore } from './checkpoint-store.ts';
import { processorConsumerConfig, type ProcessorConsumerTuning } from './consumers.ts';
import { PipelineEngine, type EngineCheckpoint, type EngineCounters, type EngineOutput, type SourceMessage } from './engine.ts';
import { PipelineError, PipelineErrorCode, isPipelineError } from './errors.ts';
import type { LeaseStore, PartitionLease } from './lease.ts';
import { toOutgoing } from './outgoing.ts';
import type { PipelineSpec } from './spec.ts';

/** A stream message as the engine sees it. Stored time is part of the log, so every reader computes the same. */
export function sourceMessageOf(msg: JsMsg): SourceMessage {
  return { seq: msg.seq, subject: msg.subject, data: msg.data, storedAt: Math.floor(msg.info.timestampNanos / 1_000_000) };
}

/** What a committed batch did, for metrics and logs. */
export interface BatchReport {
  readonly pipeline: string;
  readonly partition: number;
  readonly messages: number;
  /** Inputs dropped as duplicates (same tenant, source and id). */
  readonly duplicates: number;
  readonly outputs: readonly EngineOutput[];
  readonly lastSeq: number;
  readonly watermark: number;
}

/** Callbacks of a {@link PartitionRunner}. */
export interface RunnerHooks {
  /** After a batch was published, checkpointed and acknowledged. */
  readonly onBatch?: (report: BatchReport) => void;
  /** After provisional results were published. */
  readonly onProvisional?: (report: BatchReport) => void;
  /** A batch failed (it is retried with back-off), or provisional publishing failed (it is skipped). */
  readonly onError?: (error: unknown, context: { pipeline: string; partition: number; attempt?: number }) => void;
  /** This runner lost the partition (its lease, or another worker wrote the checkpoint) and went back to standby. */
  readonly onLost?: (reason: string, context: { pipeline: string; partition: number }) => void;
  /** The runner took (or took back) the partition and is consuming. */
  readonly onActive?: (context: { pipeline: string; partition: number; checkpointSeq: number }) => void;
}

/** Options of {@link PartitionRunner}. */
export interface PartitionRunnerOptions {
  readonly nc: NatsConnection;
  /** The EVENTS stream's name (in its namespace). */
  readonly stream: string;
  readonly scheme: SubjectScheme;
  readonly spec: PipelineSpec;
  readonly partition: number;
  readonly store: CheckpointStore;
  readonly publisher: JetStreamPublisher;
  /** Partition leases; without them the caller guarantees a single runner per partition. */
  readonly leases?: LeaseStore;
  /** Most messages per batch (and per checkpoint). */
  readonly maxBatch: number;
  /** Longest a partial batch waits. */
  readonly maxWaitMs: number;
  /**
   * Live idle handling: after this long without input, publish provisional results of the open windows once (they
   * are flagged `provisional` and never replace the real, event-time results). 0 or undefined: off.
   */
  readonly provisionalAfterMs?: number;
  readonly consumer?: ProcessorConsumerTuning;
  readonly hooks?: RunnerHooks;
}

/** A runner's view of its partition. */
export interface RunnerStatus {
  readonly pipeline: string;
  readonly partition: number;
  /** `standby`: another worker holds the partition's lease; this one takes over when it lapses. */
  readonly state: 'starting' | 'standby' | 'running' | 'stopped' | 'failed';
  /** Last sequence whose checkpoint is committed. */
  readonly checkpointSeq: number;
  readonly watermark: number;
  readonly counters: Readonly<EngineCounters>;
}

const NO_COUNTERS: EngineCounters = { messages: 0, duplicates: 0, invalid: 0, late: 0, windowResults: 0, provisionalResults: 0, anomalies: 0, alerts: 0 };

/**
 * Runs one pipeline over one partition until stopped.
 *
 * @example
 * const runner = new PartitionRunner({ nc, stream: 'EVENTS', scheme, spec, partition: 3, store, leases, publisher, maxBatch: 500, maxWaitMs: 100 });
 * await runner.start(); // running, or standby behind another worker
 * // …
 * await runner.stop(); // commits what is buffered, releases the lease
 */
export class PartitionRunner {
  private engine: PipelineEngine | undefined;
  private committed: EngineCheckpoint | undefined;
  private revision: number | undefined;
  private prepared: { lastSeq: number; outputs: EngineOutput[]; checkpoint: EngineCheckpoint; duplicates: number } | undefined;
  private batches: BatchConsumer | undefined;
  private lease: PartitionLease | undefined;
  private state: RunnerStatus['state'] = 'starting';
  private chain: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActivity = Date.now();
  private previewed = true;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private endSession: ((reason: string | undefined) => void) | undefined;
  private wakeStandby: (() => void) | undefined;

  constructor(private readonly options: PartitionRunnerOptions) {}

  get pipeline(): string {
    return this.options.spec.name;
  }

  get partition(): number {
    return this.options.partition;
  }

  /**
   * Starts the runner and resolves once it runs the partition or waits as a standby. Rejects when the partition
   * cannot be run at all (e.g. the checkpoint was written by a different definition of the pipeline).
   */
  async start(): Promise<void> {
    let settle!: (error?: unknown) => void;
    const first = new Promise<void>(
      (resolve, reject) => (settle = (error) => (error === undefined ? resolve() : reject(error instanceof Error ? error : new Error(JSON.stringify(error))))),
    );
    this.loop = this.supervise(settle);
    await first;
  }

  /** Stops consuming, commits the buffered messages (publish, checkpoint, ack), releases the lease. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.endSession?.(undefined);
    this.wakeStandby?.();
    await this.loop;
    this.state = this.state === 'failed' ? 'failed' : 'stopped';
  }

  status(): RunnerStatus {
    return {
      pipeline: this.options.spec.name,
      partition: this.options.partition,
      state: this.state,
      checkpointSeq: this.committed?.lastSeq ?? 0,
      watermark: this.engine?.watermark ?? -Infinity,
      counters: { ...(this.engine?.counters ?? NO_COUNTERS) },
    };
  }

  private context(): { pipeline: string; partition: number } {
    return { pipeline: this.options.spec.name, partition: this.options.partition };
  }

  /** Takes the lease, runs a session until it ends (lost or stopped), and starts over until stopped. */
  private async supervise(settle: (error?: unknown) => void): Promise<void> {
    let settled = false;
    const done = (error?: unknown): void => {
      if (!settled) settle(error);
      settled = true;
    };
    const leases = this.options.leases;
    const retryMs = leases ? Math.max(50, Math.floor(leases.ttlMs / 3)) : 1_000;
    while (!this.stopping) {
      if (leases) {
        this.lease = leases.lease(`${this.options.spec.name}.${this.options.partition}`);
        if (!(await this.lease.tryAcquire().catch(() => false))) {
          this.lease = undefined;
          this.state = 'standby';
          done();
          await this.pause(retryMs);
          continue;
        }
      }
      let ended: Promise<string | undefined>;
      try {
        ({ ended } = await this.openSession());
      } catch (error) {
        await this.closeSession();
        if (isPipelineError(error, 'pipeline-changed') || isPipelineError(error, 'corrupt-checkpoint')) {
          this.state = 'failed';
          done(error);
          return;
        }
        this.options.hooks?.onError?.(error, this.context());
        await this.pause(retryMs);
        continue;
      }
      this.state = 'running';
      this.options.hooks?.onActive?.({ ...this.context(), checkpointSeq: this.committed?.lastSeq ?? 0 });
      done();
      const reason = await ended;
      await this.closeSession();
      if (reason !== undefined && !this.stopping) {
        this.state = 'standby';
        this.options.hooks?.onLost?.(reason, this.context());
        await this.pause(retryMs);
      }
    }
    done();
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeStandby = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeStandby = undefined;
  }

  /** Loads the checkpoint, positions the consumer right after it and starts consuming. Resolves with a promise of the session's end. */
  private async openSession(): Promise<{ ended: Promise<string | undefined> }> {
    const { spec, partition, nc, stream, scheme } = this.options;
    const ended = new Promise<string | undefined>((resolve) => (this.endSession = resolve));
    this.lease?.onLost((reason) => this.endSession?.(`lease lost: ${reason}`));
    const saved = await this.options.store.load(spec.name, partition);
    this.committed = saved?.checkpoint;
    this.revision = saved?.revision;
    this.prepared = undefined;
    this.engine = this.restore();
    const jsm = await jetstreamManager(nc);
    const config = processorConsumerConfig(spec, partition, scheme, this.options.consumer);
    try {
      const info = await jsm.consumers.info(stream, config.durable_name);
      if (info.config.filter_subject !== config.filter_subject) await jsm.consumers.delete(stream, config.durable_name);
    } catch (error) {
      if (!(error instanceof JetStreamApiError)) throw error;
    }
    await positionConsumer(jsm, stream, config, (this.committed?.lastSeq ?? 0) + 1);
    const consumer = await jetstream(nc).consumers.get(stream, config.durable_name);
    this.batches = new BatchConsumer(consumer, (msgs) => this.serial(() => this.commit(msgs)), {
      maxBatch: this.options.maxBatch,
      maxWaitMs: this.options.maxWaitMs,
      ack: 'last',
      onError: (error, attempt) => this.options.hooks?.onError?.(error, { ...this.context(), attempt }),
    });
    await this.batches.start();
    const idle = this.options.provisionalAfterMs ?? 0;
    if (idle > 0 && spec.windows.length > 0) {
      this.idleTimer = setInterval(() => void this.serial(() => this.preview()), Math.max(50, Math.floor(idle / 2)));
      this.idleTimer.unref();
    }
    return { ended };
  }

  /** Stops consuming (committing what is buffered while the lease holds) and releases the lease. */
  private async closeSession(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
    await this.batches?.stop();
    this.batches = undefined;
    await this.chain.catch(() => undefined);
    this.endSession = undefined;
    await this.lease?.release();
    this.lease = undefined;
  }

  /** Runs `fn` after everything queued before it: batches and previews never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private restore(): PipelineEngine {
    const checkpoint = this.committed ? (JSON.parse(JSON.stringify(this.committed)) as EngineCheckpoint) : undefined;
    return new PipelineEngine(this.options.spec, { scheme: this.options.scheme, partition: this.options.partition, ...(checkpoint ? { checkpoint } : {}) });
  }

  private assertOwner(): void {
    if (this.lease && !this.lease.valid()) {
      throw new PipelineError(PipelineErrorCode.CheckpointConflict, `pipeline ${this.options.spec.name} partition ${this.options.partition}: the lease is not held`);
    }
  }

  private async commit(msgs: readonly JsMsg[]): Promise<void> {
    const { spec, partition } = this.options;
    const last = msgs.at(-1);
    if (!last) return;
    this.assertOwner();
    this.lastActivity = Date.now();
    this.previewed = false;
    if (this.prepared?.lastSeq !== last.seq) {
      // A retry after a failure starts again from the committed state, never from one a failed attempt advanced.
      if (this.engine === undefined || this.engine.lastSeq !== (this.committed?.lastSeq ?? 0)) this.engine = this.restore();
      const outputs: EngineOutput[] = [];
      const duplicates = this.engine.counters.duplicates;
      for (const msg of msgs) outputs.push(...this.engine.process(sourceMessageOf(msg)));
      this.prepared = { lastSeq: last.seq, outputs, checkpoint: this.engine.checkpoint(), duplicates: this.engine.counters.duplicates - duplicates };
    }
    const prepared = this.prepared;
    await this.publish(prepared.outputs);
    this.assertOwner();
    try {
      this.revision = await this.options.store.save(prepared.checkpoint, this.revision);
    } catch (error) {
      if (isPipelineError(error, 'checkpoint-conflict')) this.endSession?.(error.message);
      throw error;
    }
    this.committed = prepared.checkpoint;
    this.prepared = undefined;
    this.options.hooks?.onBatch?.({
      pipeline: spec.name,
      partition,
      messages: msgs.length,
      duplicates: prepared.duplicates,
      outputs: prepared.outputs,
      lastSeq: prepared.lastSeq,
      watermark: this.engine?.watermark ?? -Infinity,
    });
  }

  private async preview(): Promise<void> {
    const idle = this.options.provisionalAfterMs ?? 0;
    if (this.previewed || this.state !== 'running' || Date.now() - this.lastActivity < idle) return;
    if (!this.engine || this.prepared || this.engine.lastSeq !== (this.committed?.lastSeq ?? 0)) return;
    if (this.lease && !this.lease.valid()) return;
    this.previewed = true;
    const outputs = this.engine.provisional();
    if (outputs.length === 0) return;
    try {
      await this.publish(outputs);
      this.options.hooks?.onProvisional?.({ ...this.context(), messages: 0, duplicates: 0, outputs, lastSeq: this.engine.lastSeq, watermark: this.engine.watermark });
    } catch (error) {
      this.options.hooks?.onError?.(error, this.context());
    }
  }

  private async publish(outputs: readonly EngineOutput[]): Promise<void> {
    if (outputs.length === 0) return;
    const { scheme, spec, stream } = this.options;
    const results = await this.options.publisher.publishAll(outputs.map((o) => toOutgoing(o, scheme, spec.name, stream)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
