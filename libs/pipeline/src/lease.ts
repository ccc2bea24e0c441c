/**
 * Partition leases in JetStream KV: at most one worker runs a (pipeline, partition) at a time.
 *
 * A lease is a key in a bucket whose `max_age` is the lease time (NATS 2.9 ignores per-message TTLs, a bucket's
 * max age it honours): the holder creates the key (create fails while someone else's is there) and renews it well
 * within the lease time by compare-and-set on its revision. A holder that dies stops renewing, its key ages out and
 * a standby takes over. A holder that cannot renew in time — or finds the key taken — stops processing at once.
 *
 * Leases keep two workers from interleaving one partition's messages (which would publish results computed from
 * half the input); the checkpoint's own compare-and-set is the fence behind it.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

/** Opens lease buckets. */
export class LeaseStore {
  private constructor(
    private readonly kv: KV,
    readonly bucket: string,
    readonly ttlMs: number,
  ) {}

  /**
   * Opens (creating when missing) the lease bucket `bucket` with lease time `ttlMs`; an existing bucket with
   * another max age is updated to it.
   */
  static async open(nc: NatsConnection, options: { bucket: string; ttlMs: number }): Promise<LeaseStore> {
    const kv = await new Kvm(nc).create(options.bucket, { history: 1, storage: 'file', ttl: options.ttlMs });
    const jsm = await jetstreamManager(nc);
    const name = `KV_${options.bucket}`;
    const info = await jsm.streams.info(name);
    const maxAge = options.ttlMs * 1_000_000;
    if (info.config.max_age !== maxAge) await jsm.streams.update(name, { ...info.config, max_age: maxAge });
    return new LeaseStore(kv, options.bucket, options.ttlMs);
  }

  /** A lease handle for `key`, held by nobody yet. */
  lease(key: string, owner: string = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`): PartitionLease {
    return new PartitionLease(this.kv, key, owner, this.ttlMs);
  }

  /** Who holds `key` now, if anyone. */
  async holder(key: string): Promise<string | undefined> {
    const entry = await this.kv.get(key);
    return entry && entry.operation === 'PUT' && entry.length > 0 ? entry.string() : undefined;
  }
}

/** One lease. Acquire, keep renewing, check {@link PartitionLease.valid} before every externally visible step. */
export class PartitionLease {
  private revision: number | undefined;
  private renewedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private lostHandler: ((reason: string) => void) | undefined;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  /** Tries once to take the lease; true when this handle holds it now. */
  async tryAcquire(): Promise<boolean> {
    try {
      this.revision = await this.kv.create(this.key, this.owner);
    } catch {
      return false;
    }
    this.renewedAt = Date.now();
    this.schedule();
    return true;
  }

  /**
   * True while the lease is surely held: the last renewal is younger than two thirds of the lease time, so even a
   * renewal that is late cannot let another worker in before this one notices.
   */
  valid(): boolean {
    return this.revision !== undefined && Date.now() - this.renewedAt < (this.ttlMs * 2) / 3;
  }

  /** Called once when the lease is lost (renewal failed or came too late). */
  onLost(handler: (reason: string) => void): void {
    this.lostHandler = handler;
  }

  /** Stops renewing and deletes the key (only if it is still ours), so a successor need not wait for it to age out. */
  async release(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const revision = this.revision;
    this.revision = undefined;
    if (revision !== undefined) await this.kv.delete(this.key, { previousSeq: revision }).catch(() => undefined);
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.renew(), Math.max(20, Math.floor(this.ttlMs / 4)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.revision === undefined) return;
    const started = Date.now();
    try {
      this.revision = await this.kv.update(this.key, this.owner, this.revision);
      this.renewedAt = started;
    } catch (error) {
      // Someone else's key (or ours aged out): lost. A transient error: retry soon while the lease is still valid.
      const taken = error instanceof JetStreamApiError && (error.code === 10071 || error.code === 10164);
      if (!taken && this.valid()) {
        this.timer = setTimeout(() => void this.renew(), Math.max(20, Math.floor(this.ttlMs / 12)));
        this.timer.unref();
        return;
      }
      this.lose(`renewal failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (!this.valid()) {
      this.lose('renewal came too late');
      return;
    }
    this.schedule();
  }

  private lose(reason: string): void {
    this.revision = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.lostHandler?.(reason);
  }
}
