import type { Redis } from 'ioredis';
import { EntityReducers, type EntityState } from '@tideway/entities';
import type { StoredEvent } from '@tideway/events';
import type { ApplyResult, ProjectionStore } from '@tideway/projection';
import { runApplyScript } from './apply-script.ts';
import { defaultDerivedRouting, type DerivedKind, type DerivedRouting } from './derived.ts';
import { HotStoreError, HotStoreErrorCode, requireOption } from './errors.ts';
import { HotKeys } from './keys.ts';
import { planBatch, rejectReason, routeEvent, type DroppedEffect, type HotOp, type HotSettings } from './plan.ts';

/** Time-to-live settings of the hot store, in milliseconds. */
export interface HotTtlOptions {
  /**
   * Entity state expires this long after the `recordedtime` of its last event. Default: never (the hot store
   * holds every entity's latest state). An entity evicted this way starts its fold again at its next event, so
   * set it only where readers fall back to the warm store for idle entities.
   */
  readonly entityMs?: number;
  /** Window results older than the newest window start of their key minus this are dropped; the key expires this long after its newest window start. Default 1 day. */
  readonly windowsMs?: number;
  /** Anomalies older than a tenant's newest anomaly minus this are dropped; the list expires this long after its newest. Default 1 day. */
  readonly anomaliesMs?: number;
  /** As `anomaliesMs`, for alerts. Default 7 days. */
  readonly alertsMs?: number;
}

/** Size limits of the hot store. */
export interface HotLimitOptions {
  /** Largest value (entity state JSON, window result, anomaly) the store writes; larger events are quarantined. Default 256 KiB. */
  readonly maxValueBytes?: number;
  /** Window results kept per key (newest first). Default 1000. */
  readonly maxWindowsPerKey?: number;
  /** Anomalies kept per tenant. Default 1000. */
  readonly maxAnomalies?: number;
  /** Alerts kept per tenant. Default 1000. */
  readonly maxAlerts?: number;
}

/** Options of {@link HotProjectionStore}. */
export interface HotProjectionStoreOptions {
  /** An ioredis client. The store never closes it. */
  readonly redis: Redis;
  /**
   * Prefix of every key (e.g. `tw:hot:`). A shadow rebuild writes under another prefix and swaps; tests use
   * `redisPrefix()` from `@tideway/testing`.
   */
  readonly prefix: string;
  /** Projection name: names the checkpoint and the single-writer lock. Default `hot`. */
  readonly name?: string;
  /**
   * The entity reducers (default: `new EntityReducers()`, the same the warm store uses), or `false` for an
   * instance that keeps no entity state, such as a second hot projection consuming only the DERIVED stream.
   */
  readonly entities?: EntityReducers | false;
  /** Which derived event types to keep as window results, anomalies and alerts, or `false` for none. Default {@link defaultDerivedRouting}. */
  readonly derived?: DerivedRouting | false;
  readonly ttl?: HotTtlOptions;
  readonly limits?: HotLimitOptions;
  /** Told about effects `apply` could not keep although `reject` let the event through (e.g. state that outgrew `maxValueBytes`). */
  readonly onDropped?: (dropped: readonly DroppedEffect[]) => void;
  /** How often `apply` plans again when the checkpoint moved under it, before it throws `hot-checkpoint-moved`. Default 3. */
  readonly maxConflictRetries?: number;
}

/** What one apply did: the port's {@link ApplyResult} plus the effects dropped. */
export interface HotApplyResult extends ApplyResult {
  /** Events above the checkpoint whose effect could not be kept (see `onDropped`). */
  readonly dropped: number;
}

/** A planned batch, not yet written. */
export interface PreparedHotBatch {
  /** The checkpoint the batch was planned against. */
  readonly basedOn: number;
  /** The checkpoint after the commit. */
  readonly through: number;
  readonly ops: readonly HotOp[];
  readonly dropped: readonly DroppedEffect[];
  /**
   * Writes the batch and moves the checkpoint in one script, if the checkpoint is still `basedOn`; resolves
   * undefined, having written nothing, if it moved.
   */
  commit(): Promise<HotApplyResult | undefined>;
}

const DAY = 86_400_000;
const CHUNK = 1000;

function positive(value: number | undefined, name: string): void {
  requireOption(
    value === undefined || (Number.isSafeInteger(value) && value > 0),
    `${name} must be a positive integer, got ${value}`,
  );
}

/** @internal Resolves options into planner settings. */
export function resolveSettings(options: Omit<HotProjectionStoreOptions, 'redis'>): HotSettings {
  const ttl = options.ttl ?? {};
  const limits = options.limits ?? {};
  positive(ttl.entityMs, 'ttl.entityMs');
  positive(ttl.windowsMs, 'ttl.windowsMs');
  positive(ttl.anomaliesMs, 'ttl.anomaliesMs');
  positive(ttl.alertsMs, 'ttl.alertsMs');
  positive(limits.maxValueBytes, 'limits.maxValueBytes');
  positive(limits.maxWindowsPerKey, 'limits.maxWindowsPerKey');
  positive(limits.maxAnomalies, 'limits.maxAnomalies');
  positive(limits.maxAlerts, 'limits.maxAlerts');
  requireOption(
    options.entities !== false || options.derived !== false,
    'a hot store that keeps neither entities nor derived events would keep nothing',
  );
  const derived = new Map<string, DerivedKind>();
  if (options.derived !== false) {
    const routing = options.derived ?? defaultDerivedRouting;
    for (const kind of ['window', 'anomaly', 'alert'] as const) {
      for (const type of routing[kind]) {
        requireOption(!derived.has(type), `derived event type ${type} is routed twice`);
        derived.set(type, kind);
      }
    }
  }
  return {
    keys: new HotKeys(options.prefix),
    reducers: options.entities === false ? undefined : (options.entities ?? new EntityReducers()),
    derived,
    entityTtlMs: ttl.entityMs,
    windowRetentionMs: ttl.windowsMs ?? DAY,
    anomalyRetentionMs: ttl.anomaliesMs ?? DAY,
    alertRetentionMs: ttl.alertsMs ?? 7 * DAY,
    maxValueBytes: limits.maxValueBytes ?? 256 * 1024,
    maxWindowsPerKey: limits.maxWindowsPerKey ?? 1000,
    maxAnomalies: limits.maxAnomalies ?? 1000,
    maxAlerts: limits.maxAlerts ?? 1000,
  };
}

/**
 * The hot projection store: the latest state of every entity, recent window results, anomalies and alerts in
 * Redis, written effectively once.
 *
 * One `apply` reads the checkpoint and the current state of the batch's entities in one pipelined round trip,
 * folds the batch in Node with the shared reducers of `@tideway/entities`, then writes every state, every
 * derived item and the new checkpoint in one Lua script that first verifies the checkpoint is still the one it
 * read. Redis runs a script atomically, so a crash leaves either the whole batch with its checkpoint or
 * nothing; a redelivered batch finds its events at or below the checkpoint and writes nothing.
 */
export class HotProjectionStore implements ProjectionStore {
  readonly name: string;
  readonly keys: HotKeys;
  private readonly settings: HotSettings;
  private readonly redis: Redis;
  private readonly checkpointKey: string;
  private readonly maxConflictRetries: number;

  constructor(private readonly options: HotProjectionStoreOptions) {
    this.redis = options.redis;
    this.name = options.name ?? 'hot';
    requireOption(/^[A-Za-z0-9_.-]+$/.test(this.name), `projection name must be [A-Za-z0-9_.-]+, got ${this.name}`);
    this.settings = resolveSettings(options);
    this.keys = this.settings.keys;
    this.checkpointKey = this.keys.checkpoint(this.name);
    this.maxConflictRetries = options.maxConflictRetries ?? 3;
  }

  /** The last stream sequence whose effects are in Redis (0: none). */
  async checkpoint(): Promise<number> {
    return Number((await this.redis.get(this.checkpointKey)) ?? 0);
  }

  /** Why the store cannot keep `event` (too large, a derived event of the wrong shape, a failing reducer), or undefined. */
  reject(event: StoredEvent): string | undefined {
    return rejectReason(this.settings, event);
  }

  /** Applies `batch` (ascending sequences) and moves the checkpoint to `throughSeq`, atomically. */
  async apply(batch: readonly StoredEvent[], throughSeq: number): Promise<HotApplyResult> {
    for (let attempt = 0; ; attempt++) {
      const prepared = await this.prepare(batch, throughSeq);
      const result = await prepared.commit();
      if (result) return result;
      if (attempt >= this.maxConflictRetries) {
        throw new HotStoreError(
          HotStoreErrorCode.CheckpointMoved,
          `the checkpoint of hot projection ${this.name} kept moving while applying a batch (is a second writer running without the lock?)`,
        );
      }
    }
  }

  /**
   * The first half of {@link apply}: reads the checkpoint and the batch's entity states (pipelined, MGET of up to
   * 1000 keys per command) and plans the writes. Nothing is written until `commit()`.
   */
  async prepare(batch: readonly StoredEvent[], throughSeq: number): Promise<PreparedHotBatch> {
    const entityKeys = new Set<string>();
    for (const stored of batch) {
      const route = routeEvent(this.settings, stored);
      if (route.kind === 'entity') entityKeys.add(route.key);
    }
    const { checkpoint, current } = await this.read([...entityKeys]);
    const fresh = batch.filter((e) => e.seq > checkpoint);
    const through = Math.max(checkpoint, throughSeq);
    const skipped = batch.length - fresh.length;
    if (fresh.length === 0 && through === checkpoint) {
      const result: HotApplyResult = { applied: 0, skipped, checkpoint, dropped: 0 };
      return {
        basedOn: checkpoint,
        through,
        ops: [],
        dropped: [],
        commit: async () => ((await this.checkpoint()) === checkpoint ? result : undefined),
      };
    }
    const plan = planBatch(this.settings, fresh, current);
    return {
      basedOn: checkpoint,
      through,
      ops: plan.ops,
      dropped: plan.dropped,
      commit: async () => {
        const outcome = await runApplyScript(this.redis, this.checkpointKey, checkpoint, through, plan.ops);
        if (!outcome.applied) return undefined;
        if (plan.dropped.length > 0) this.options.onDropped?.(plan.dropped);
        return {
          applied: fresh.length - plan.dropped.length,
          skipped,
          checkpoint: outcome.checkpoint,
          dropped: plan.dropped.length,
        };
      },
    };
  }

  private async read(
    entityKeys: readonly string[],
  ): Promise<{ checkpoint: number; current: Map<string, EntityState | undefined> }> {
    const pipeline = this.redis.pipeline();
    pipeline.get(this.checkpointKey);
    for (let i = 0; i < entityKeys.length; i += CHUNK) pipeline.mget(entityKeys.slice(i, i + CHUNK));
    const replies = (await pipeline.exec()) ?? [];
    for (const [error] of replies) if (error) throw error;
    const checkpoint = Number((replies[0]?.[1] as string | null) ?? 0);
    const current = new Map<string, EntityState | undefined>();
    let k = 0;
    for (const [, values] of replies.slice(1)) {
      for (const value of values as (string | null)[]) {
        const key = entityKeys[k++]!;
        if (value === null) continue;
        try {
          current.set(key, JSON.parse(value) as EntityState);
        } catch (cause) {
          throw new HotStoreError(
            HotStoreErrorCode.CorruptValue,
            `hot store key ${key} does not hold entity state JSON`,
            { cause },
          );
        }
      }
    }
    return { checkpoint, current };
  }
}
