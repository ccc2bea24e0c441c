/**
 * What the replay's reader thread and its engine thread say to each other (see `replay-host.ts`): messages travel
 * packed into transferred `ArrayBuffer`s, everything else as structured-cloned objects.
 *
 * A packed message is a 24-byte head — stream sequence (f64), stored time in ms (f64), partition (u16), subject
 * length (u16), data length (u32), little-endian — followed by the subject (UTF-8) and the data.
 */
import type { SubjectScheme } from '@tideway/events';
import type { EngineCounters, EngineOutput, SourceMessage } from './engine.ts';
import type { PipelineSpec } from './spec.ts';

/** Reader → engine thread. */
export type ToEngine =
  | { readonly kind: 'open'; readonly session: number; readonly spec: PipelineSpec; readonly scheme: SubjectScheme }
  | { readonly kind: 'batch'; readonly session: number; readonly buffer: ArrayBuffer; readonly count: number }
  | { readonly kind: 'finish'; readonly session: number; readonly partitions: readonly number[]; readonly flush: boolean }
  /** The replay ended early (its read or its sink failed): drop the session's engines. */
  | { readonly kind: 'close'; readonly session: number };

/** A partition's engine at the end of a replay. */
export interface PartitionReport {
  readonly partition: number;
  readonly lastSeq: number;
  readonly counters: EngineCounters;
}

/** An error, as it crosses the thread boundary (a `PipelineError` keeps its code). */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

/** Engine thread → reader. */
export type FromEngine =
  | { readonly kind: 'outputs'; readonly session: number; readonly outputs: readonly EngineOutput[] }
  | { readonly kind: 'finished'; readonly session: number; readonly outputs: readonly EngineOutput[]; readonly reports: readonly PartitionReport[] }
  | { readonly kind: 'failed'; readonly session: number; readonly error: WireError };

const HEAD_BYTES = 24;
/** A batch's buffer: large enough that a message per transfer costs nothing, small enough to stay in cache. */
export const BATCH_BYTES = 256 * 1024;

/** Packs messages into one buffer to transfer. */
export class BatchWriter {
  private buffer: ArrayBuffer;
  private bytes: Buffer;
  private view: DataView;
  private offset = 0;
  count = 0;

  constructor(private readonly size = BATCH_BYTES) {
    this.buffer = new ArrayBuffer(size);
    this.bytes = Buffer.from(this.buffer);
    this.view = new DataView(this.buffer);
  }

  /** Whether a message of this subject and data fits (an empty batch takes any message: it grows for it). */
  fits(subject: string, data: Uint8Array): boolean {
    return this.count === 0 || this.offset + HEAD_BYTES + subject.length * 3 + data.byteLength <= this.buffer.byteLength;
  }

  add(seq: number, storedAt: number, partition: number, subject: string, data: Uint8Array): void {
    const need = this.offset + HEAD_BYTES + subject.length * 3 + data.byteLength;
    if (need > this.buffer.byteLength) this.grow(need);
    const view = this.view;
    const at = this.offset;
    view.setFloat64(at, seq, true);
    view.setFloat64(at + 8, storedAt, true);
    view.setUint16(at + 16, partition, true);
    const subjectBytes = this.bytes.write(subject, at + HEAD_BYTES, 'utf8');
    view.setUint16(at + 18, subjectBytes, true);
    view.setUint32(at + 20, data.byteLength, true);
    this.bytes.set(data, at + HEAD_BYTES + subjectBytes);
    this.offset = at + HEAD_BYTES + subjectBytes + data.byteLength;
    this.count++;
  }

  /** Hands the packed buffer over (to be transferred) and starts a new one. */
  take(): { buffer: ArrayBuffer; count: number } {
    const out = { buffer: this.buffer.byteLength === this.offset ? this.buffer : this.buffer.slice(0, this.offset), count: this.count };
    if (out.buffer === this.buffer) this.buffer = new ArrayBuffer(this.size);
    this.bytes = Buffer.from(this.buffer);
    this.view = new DataView(this.buffer);
    this.offset = 0;
    this.count = 0;
    return out;
  }

  private grow(need: number): void {
    const bigger = new ArrayBuffer(Math.max(need, this.buffer.byteLength * 2));
    new Uint8Array(bigger).set(new Uint8Array(this.buffer, 0, this.offset));
    this.buffer = bigger;
    this.bytes = Buffer.from(bigger);
    this.view = new DataView(bigger);
  }
}

/**
 * Reads a transferred batch one message at a time.
 *
 * @example
 * const reader = new BatchReader(buffer, count);
 * while (reader.next()) engines[reader.partition].process(reader.message);
 */
export class BatchReader {
  private readonly view: DataView;
  private readonly bytes: Buffer;
  private at = 0;
  private left: number;
  partition = 0;
  message: SourceMessage | undefined;

  constructor(
    private readonly buffer: ArrayBuffer,
    count: number,
  ) {
    this.view = new DataView(buffer);
    this.bytes = Buffer.from(buffer);
    this.left = count;
  }

  /** Moves to the next message; false after the last. */
  next(): boolean {
    if (this.left === 0) return false;
    this.left--;
    const view = this.view;
    const at = this.at;
    const subjectBytes = view.getUint16(at + 18, true);
    const dataBytes = view.getUint32(at + 20, true);
    const subjectAt = at + HEAD_BYTES;
    this.partition = view.getUint16(at + 16, true);
    this.message = {
      seq: view.getFloat64(at, true),
      subject: this.bytes.toString('utf8', subjectAt, subjectAt + subjectBytes),
      data: new Uint8Array(this.buffer, subjectAt + subjectBytes, dataBytes),
      storedAt: view.getFloat64(at + 8, true),
    };
    this.at = subjectAt + subjectBytes + dataBytes;
    return true;
  }
}

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}), ...(error.stack ? { stack: error.stack } : {}) };
  }
  return { name: 'Error', message: String(error) };
}
