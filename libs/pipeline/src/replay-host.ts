/**
 * The engine thread of bounded replays, seen from the reader: one worker thread per process, started on first use
 * and kept (unreferenced, so it never holds the process open) while idle, because a fresh thread runs its first
 * tens of thousands of messages cold. Each replay opens a session on it; sessions never share engines.
 *
 * Why a second thread: a replay is a read loop (the NATS client's parsing, one callback per message) and the
 * engines (decoding, de-duplication, the operator chain), each several microseconds per message. On one thread
 * they add up; split, they overlap, and the replay runs at the pace of the slower half.
 */
import { Worker } from 'node:worker_threads';
import type { SubjectScheme } from '@tideway/events';
import type { EngineOutput } from './engine.ts';
import { PipelineError, type PipelineErrorCode } from './errors.ts';
import { BatchWriter, type FromEngine, type PartitionReport, type ToEngine, type WireError } from './replay-wire.ts';
import type { PipelineSpec } from './spec.ts';

/**
 * Batches handed to the engine thread and not yet answered, per session: up to 32 × 256 KiB, some 20,000 messages
 * of 400 bytes. The reader is the faster half, so it runs into this bound; with 4 it paused its consumer every few
 * thousand messages, and the replay ran at 88k instead of 120k events/s.
 */
const MAX_IN_FLIGHT = 32;

interface SessionEvents {
  onMessage(message: FromEngine): void;
  onFailure(error: Error): void;
}

class EngineThread {
  private worker: Worker | undefined;
  private readonly sessions = new Map<number, SessionEvents>();
  private nextSession = 1;

  open(events: SessionEvents, spec: PipelineSpec, scheme: SubjectScheme): number {
    const worker = this.start();
    const session = this.nextSession++;
    this.sessions.set(session, events);
    worker.ref();
    this.post({ kind: 'open', session, spec, scheme });
    return session;
  }

  /** Sends to the engine thread; nothing when it is gone (its sessions were failed then). */
  post(message: ToEngine, transfer?: ArrayBuffer[]): void {
    this.worker?.postMessage(message, transfer);
  }

  close(session: number): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0) this.worker?.unref();
  }

  /** Terminates the thread, if one runs; its open sessions fail (see `start`). The next `open` starts another. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    await worker.terminate();
    await exited;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const worker = new Worker(new URL('./replay-worker-boot.mjs', import.meta.url), {
      workerData: { entry: new URL(`./replay-worker${ext}`, import.meta.url).href },
      name: 'tideway-replay-engines',
    });
    worker.on('message', (message: FromEngine) => this.sessions.get(message.session)?.onMessage(message));
    const lost = (error: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const open = [...this.sessions.values()];
      this.sessions.clear();
      for (const s of open) s.onFailure(error);
    };
    worker.on('error', (error) => lost(error));
    worker.on('exit', (code) => lost(new Error(`the replay's engine thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

let thread: EngineThread | undefined;

/**
 * Stops the replays' engine thread (it is started again by the next replay that needs it). Replays still running
 * on it fail with an error naming the thread's exit; none hangs. For a shutdown that must not leave the thread to
 * the process's exit, and for tests of a lost thread.
 */
export function stopReplayEngineThread(): Promise<void> {
  return thread?.stop() ?? Promise.resolve();
}

function fromWire(error: WireError): Error {
  const out = error.code !== undefined && error.name === 'PipelineError' ? new PipelineError(error.code as PipelineErrorCode, error.message) : new Error(error.message);
  if (error.stack) out.stack = error.stack;
  return out;
}

/**
 * One replay's engines on the engine thread. Messages go in through {@link RemoteEngines.add} (packed, a batch at a
 * time); outputs come back per batch, in order, and are handed to `emit` one batch after the other. `add` returns a
 * promise while {@link MAX_IN_FLIGHT} batches wait for their outputs to be emitted: the reader's back-pressure.
 */
export class RemoteEngines {
  private readonly host: EngineThread;
  private readonly session: number;
  private readonly writer = new BatchWriter();
  private inFlight = 0;
  private failure: Error | undefined;
  /** Emitting outputs, batch after batch. */
  private chain: Promise<void> = Promise.resolve();
  private waiting: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private finished: { resolve: (reports: readonly PartitionReport[]) => void; reject: (error: Error) => void } | undefined;

  constructor(
    spec: PipelineSpec,
    scheme: SubjectScheme,
    private readonly emit: (outputs: readonly EngineOutput[]) => Promise<void>,
  ) {
    this.host = thread ??= new EngineThread();
    this.session = this.host.open({ onMessage: (m) => this.onMessage(m), onFailure: (e) => this.fail(e) }, spec, scheme);
  }

  /** Queues one message for its partition's engine; a promise means "wait before the next". */
  add(seq: number, storedAt: number, partition: number, subject: string, data: Uint8Array): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.writer.fits(subject, data)) this.send();
    this.writer.add(seq, storedAt, partition, subject, data);
    if (this.inFlight < MAX_IN_FLIGHT) return undefined;
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /**
   * Sends what is still packed, has every partition in `partitions` flushed (when `flush`), waits until every
   * output was emitted, and resolves with the engines' reports.
   */
  async finish(partitions: readonly number[], flush: boolean): Promise<readonly PartitionReport[]> {
    try {
      if (this.failure) throw this.failure;
      if (this.writer.count > 0) this.send();
      const reports = new Promise<readonly PartitionReport[]>((resolve, reject) => (this.finished = { resolve, reject }));
      this.host.post({ kind: 'finish', session: this.session, partitions, flush });
      return await reports;
    } finally {
      this.abandon(); // the engine thread dropped the session already, unless this failed first
    }
  }

  /** Ends the session early (the read or the sink failed): the engine thread drops its engines. */
  abandon(): void {
    this.host.post({ kind: 'close', session: this.session });
    this.host.close(this.session);
  }

  private send(): void {
    const { buffer, count } = this.writer.take();
    this.inFlight++;
    this.host.post({ kind: 'batch', session: this.session, buffer, count }, [buffer]);
  }

  private onMessage(message: FromEngine): void {
    if (message.kind === 'failed') return this.fail(fromWire(message.error));
    const outputs = message.outputs;
    this.chain = this.chain.then(async () => {
      if (this.failure) return;
      try {
        if (outputs.length > 0) await this.emit(outputs);
      } catch (error) {
        return this.fail(error instanceof Error ? error : new Error(String(error)));
      }
      if (message.kind === 'finished') {
        this.finished?.resolve(message.reports);
        return;
      }
      this.inFlight--;
      const waiting = this.waiting;
      if (waiting && this.inFlight < MAX_IN_FLIGHT) {
        this.waiting = undefined;
        waiting.resolve();
      }
    });
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.waiting?.reject(error);
    this.waiting = undefined;
    this.finished?.reject(error);
    this.finished = undefined;
  }
}
