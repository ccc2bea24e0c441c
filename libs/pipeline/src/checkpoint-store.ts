/**
 * Checkpoints in JetStream KV: one key per (pipeline, partition) holding the engine's operator state together with
 * the last stream sequence it reflects. Writing the key is the commit point of a batch: outputs are published
 * before it, the input batch is acknowledged after it.
 *
 * Every write names the revision it replaces (KV compare-and-set), so a second worker that believes it owns the
 * partition (a misconfigured replica count, a zombie) fails its write instead of overwriting the owner's state.
 * State larger than one message is split into chunk keys written first, under a name unique to the write; the
 * head key, written last, points at them, so a crash between the two leaves the previous checkpoint intact.
 */
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EngineCheckpoint } from './engine.ts';
import { PipelineError, PipelineErrorCode } from './errors.ts';

/** A checkpoint as loaded, with the KV revision a save must name to replace it. */
export interface StoredCheckpoint {
  readonly checkpoint: EngineCheckpoint;
  readonly revision: number;
}

/** Options of {@link CheckpointStore.open}. */
export interface CheckpointStoreOptions {
  /** KV bucket name (`[A-Za-z0-9_-]+`); the bucket is created when missing. */
  readonly bucket: string;
  /** Largest compressed state kept in the head key itself; larger states are chunked. Default 512 KiB. */
  readonly chunkBytes?: number;
}

interface HeadRecord {
  readonly v: 1;
  readonly lastSeq: number;
  readonly specHash: string;
  /** gzip(JSON(checkpoint)), base64. */
  readonly inline?: string;
  readonly chunks?: { readonly id: string; readonly count: number; readonly sha256: string };
}

const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

function isConflict(error: unknown): boolean {
  return error instanceof JetStreamApiError && WRONG_LAST_SEQUENCE.has(error.code);
}

/**
 * Reads and writes pipeline checkpoints.
 *
 * @example
 * const store = await CheckpointStore.open(nc, { bucket: 'processor-state' });
 * const saved = await store.load('sensor-readings', 3);
 * const revision = await store.save(engine.checkpoint(), saved?.revision);
 */
export class CheckpointStore {
  private constructor(
    private readonly kv: KV,
    readonly bucket: string,
    private readonly chunkBytes: number,
  ) {}

  /** Opens (creating when missing) the bucket. */
  static async open(nc: NatsConnection, options: CheckpointStoreOptions): Promise<CheckpointStore> {
    const kv = await new Kvm(nc).create(options.bucket, { history: 1, storage: 'file' });
    return new CheckpointStore(kv, options.bucket, options.chunkBytes ?? 512 * 1024);
  }

  /** The head key of a pipeline's partition. */
  static key(pipeline: string, partition: number): string {
    return `${pipeline}.${partition}`;
  }

  /**
   * The partition's checkpoint, or undefined when it has none. Chunks no head refers to (a crash between writing
   * chunks and the head) are removed on the way.
   */
  async load(pipeline: string, partition: number): Promise<StoredCheckpoint | undefined> {
    const key = CheckpointStore.key(pipeline, partition);
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) {
      await this.sweep(key, undefined);
      return undefined;
    }
    let head: HeadRecord;
    try {
      head = JSON.parse(entry.string()) as HeadRecord;
    } catch (cause) {
      throw new PipelineError(PipelineErrorCode.CorruptCheckpoint, `checkpoint ${this.bucket}/${key} is not JSON`, { cause });
    }
    let compressed: Buffer;
    if (head.inline !== undefined) {
      compressed = Buffer.from(head.inline, 'base64');
    } else if (head.chunks) {
      const parts: Buffer[] = [];
      for (let i = 0; i < head.chunks.count; i++) {
        const part = await this.kv.get(`${key}.chunk.${head.chunks.id}.${i}`);
        if (!part || part.operation !== 'PUT') throw new PipelineError(PipelineErrorCode.CorruptCheckpoint, `checkpoint ${this.bucket}/${key} misses chunk ${i} of ${head.chunks.count}`);
        parts.push(Buffer.from(part.value));
      }
      compressed = Buffer.concat(parts);
      if (createHash('sha256').update(compressed).digest('hex') !== head.chunks.sha256) {
        throw new PipelineError(PipelineErrorCode.CorruptCheckpoint, `checkpoint ${this.bucket}/${key} chunks do not match their digest`);
      }
    } else {
      throw new PipelineError(PipelineErrorCode.CorruptCheckpoint, `checkpoint ${this.bucket}/${key} holds no state`);
    }
    await this.sweep(key, head.chunks?.id);
    let checkpoint: EngineCheckpoint;
    try {
      checkpoint = JSON.parse(gunzipSync(compressed).toString('utf8')) as EngineCheckpoint;
    } catch (cause) {
      throw new PipelineError(PipelineErrorCode.CorruptCheckpoint, `checkpoint ${this.bucket}/${key} does not decompress to JSON`, { cause });
    }
    return { checkpoint, revision: entry.revision };
  }

  /**
   * Writes a checkpoint, replacing revision `expected` (undefined: the key must not exist yet), and returns the
   * new revision. Throws a {@link PipelineError} `checkpoint-conflict` when someone else wrote it meanwhile.
   */
  async save(checkpoint: EngineCheckpoint, expected: number | undefined): Promise<number> {
    const key = CheckpointStore.key(checkpoint.pipeline, checkpoint.partition);
    const compressed = gzipSync(JSON.stringify(checkpoint), { level: 1 });
    let head: HeadRecord;
    let previousChunks: string | undefined;
    if (compressed.length <= this.chunkBytes) {
      head = { v: 1, lastSeq: checkpoint.lastSeq, specHash: checkpoint.specHash, inline: compressed.toString('base64') };
    } else {
      const id = randomBytes(6).toString('hex');
      const count = Math.ceil(compressed.length / this.chunkBytes);
      for (let i = 0; i < count; i++) await this.kv.put(`${key}.chunk.${id}.${i}`, compressed.subarray(i * this.chunkBytes, (i + 1) * this.chunkBytes));
      head = { v: 1, lastSeq: checkpoint.lastSeq, specHash: checkpoint.specHash, chunks: { id, count, sha256: createHash('sha256').update(compressed).digest('hex') } };
    }
    if (expected !== undefined) {
      const current = await this.kv.get(key, { revision: expected }).catch(() => null);
      if (current?.operation === 'PUT' && current.length > 0) previousChunks = (JSON.parse(current.string()) as HeadRecord).chunks?.id;
    }
    let revision: number;
    try {
      revision = expected === undefined ? await this.kv.create(key, JSON.stringify(head)) : await this.kv.update(key, JSON.stringify(head), expected);
    } catch (error) {
      if (head.chunks) await this.removeChunks(key, head.chunks.id);
      if (isConflict(error)) {
        throw new PipelineError(
          PipelineErrorCode.CheckpointConflict,
          `checkpoint ${this.bucket}/${key} was written by someone else since revision ${expected ?? 'none'}: another worker owns partition ${checkpoint.partition} of ${checkpoint.pipeline}`,
          { cause: error },
        );
      }
      throw error;
    }
    if (previousChunks !== undefined && previousChunks !== head.chunks?.id) await this.removeChunks(key, previousChunks);
    return revision;
  }

  /** Removes a partition's checkpoint and its chunks (the partition then starts from the stream's beginning). */
  async remove(pipeline: string, partition: number): Promise<void> {
    const key = CheckpointStore.key(pipeline, partition);
    await this.kv.purge(key);
    await this.sweep(key, undefined);
  }

  /** The position of every checkpoint in the bucket. */
  async positions(): Promise<{ pipeline: string; partition: number; lastSeq: number; specHash: string; revision: number }[]> {
    const out: { pipeline: string; partition: number; lastSeq: number; specHash: string; revision: number }[] = [];
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) if (/^[a-z0-9-]+\.\d+$/.test(k)) keys.push(k);
    for (const k of keys.sort()) {
      const entry = await this.kv.get(k);
      if (!entry || entry.operation !== 'PUT' || entry.length === 0) continue;
      const head = JSON.parse(entry.string()) as HeadRecord;
      const [pipeline, partition] = k.split('.') as [string, string];
      out.push({ pipeline, partition: Number(partition), lastSeq: head.lastSeq, specHash: head.specHash, revision: entry.revision });
    }
    return out;
  }

  private async sweep(key: string, keep: string | undefined): Promise<void> {
    const doomed = new Set<string>();
    for await (const k of await this.kv.keys(`${key}.chunk.>`)) {
      const id = k.slice(`${key}.chunk.`.length).split('.')[0];
      if (id !== undefined && id !== keep) doomed.add(id);
    }
    for (const id of doomed) await this.removeChunks(key, id);
  }

  private async removeChunks(key: string, id: string): Promise<void> {
    const names: string[] = [];
    for await (const k of await this.kv.keys(`${key}.chunk.${id}.*`)) names.push(k);
    for (const k of names) await this.kv.purge(k);
  }
}
