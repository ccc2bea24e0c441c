import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import type { SubjectScheme } from '@tideway/events';
import { createColdProjection, type ColdStore } from '@tideway/cold';
import { HotGenerations, HotProjectionStore, hotChecksum, type HotChecksum } from '@tideway/hot';
import {
  projectionControlSubject,
  readBounded,
  replayInto,
  type ControlReply,
  type LogRange,
  type ProjectionStore,
  type ReplayProgress,
  type WriterLock,
} from '@tideway/projection';
import {
  WarmDerivedProjection,
  WarmProjection,
  acquireProjectionLock,
  dropSchema,
  migrateWarmStore,
  openWarmStore,
  swapProjectionTables,
  warmChecksum,
  type WarmStore,
} from '@tideway/warm';

/** What `tideway replay --projection` names: a tier (all of its projections) or all tiers. */
export type RebuildScope = 'warm' | 'hot' | 'cold' | 'all';

export interface RebuildOptions {
  readonly nc: NatsConnection;
  readonly scheme: SubjectScheme;
  /** The stream name of a base name in the deployment's namespace (`EVENTS` → `EVENTS_abc`). */
  readonly streamName: (base: 'EVENTS' | 'DERIVED') => string;
  readonly databaseUrl: string;
  /** The live warm schema. */
  readonly schema: string;
  readonly migrationsDir: string;
  /** Needed for the hot tier. */
  readonly redis?: Redis;
  /** The hot store's base prefix (HOT_PREFIX). */
  readonly hotPrefix?: string;
  /** Needed for the cold tier: the archive's store (manifest in the live schema) and its key prefix. */
  readonly cold?: ColdStore;
  readonly coldPrefix?: string;
  readonly scope: RebuildScope;
  readonly range: LogRange;
  /** Drop the replaced warm tables after the swap (default: keep them in `<schema>_replaced_<stamp>`). */
  readonly dropReplaced?: boolean;
  readonly onProgress?: (p: ReplayProgress & { projection: string; phase: 'replay' | 'catch-up' }) => void;
  readonly now?: Date;
}

export interface RebuildSummary {
  readonly swapped: boolean;
  readonly projections: readonly { projection: string; events: number; checkpoint: number }[];
  /** The shadow schema (kept when not swapped; dropped after a swap). */
  readonly shadowSchema?: string;
  /** The schema the replaced warm tables were moved to (kept for rollback unless dropped). */
  readonly replacedSchema?: string;
  /** The hot generation written (live after a swap). */
  readonly hotPrefix?: string;
  /** The cold projection name the rebuild wrote (renamed to the live name by a swap) and its key prefix. */
  readonly coldShadow?: { readonly name: string; readonly prefix: string; readonly objects: number };
  readonly warm?: { events: number; entities: number; checksum: string };
  readonly hot?: HotChecksum;
  readonly seconds: number;
}

interface Target {
  readonly projection: string;
  readonly stream: 'EVENTS' | 'DERIVED';
  readonly shadow: ProjectionStore;
}

async function control(nc: NatsConnection, subject: string, op: 'pause' | 'resume'): Promise<ControlReply | undefined> {
  try {
    return (await nc.request(subject, JSON.stringify({ op }), { timeout: 30_000 })).json<ControlReply>();
  } catch {
    return undefined; // no live runner answers: nothing to pause
  }
}

/**
 * Rebuilds projections from the log into shadow versions while the live ones keep serving, then swaps them in
 * (warm: a shadow PostgreSQL schema whose projection tables replace the live ones; hot: a new Redis generation
 * that the live pointer then names):
 *
 * 1. replay the range into every shadow through the same `apply` the live runners use;
 * 2. with an open end: pause the live runners over their control subjects (each commits its current batch and
 *    releases its writer lock), take the locks, catch every shadow up to the streams' heads, swap, release, and
 *    resume the runners — which reopen the stores and reposition their consumers at the new checkpoints.
 *
 * A bounded range (`toSeq`/`toTime`) is a batch run into the shadows: nothing is swapped.
 */
export async function rebuildProjections(options: RebuildOptions): Promise<RebuildSummary> {
  const started = Date.now();
  const stamp = (options.now ?? new Date()).toISOString().replace(/\D/g, '').slice(0, 14);
  const bounded = options.range.toSeq !== undefined || options.range.toTime !== undefined;
  const withWarm = options.scope === 'warm' || options.scope === 'all';
  const withHot = options.scope === 'hot' || options.scope === 'all';
  const withCold = options.scope === 'cold' || options.scope === 'all';
  if (withHot && (!options.redis || !options.hotPrefix)) throw new Error('rebuilding the hot tier needs a Redis connection and its prefix');
  if (withCold && !options.cold) throw new Error('rebuilding the cold tier needs the cold store (S3_ENDPOINT)');
  const coldShadow = withCold ? { name: `cold-events-r${stamp}`, prefix: `rebuilds/${stamp}/${options.coldPrefix ?? 'events'}` } : undefined;

  const shadowSchema = `${options.schema}_rebuild_${stamp}`;
  const live: WarmStore = openWarmStore({ url: options.databaseUrl, schema: options.schema, max: 6, applicationName: 'tideway-replay' });
  const shadow: WarmStore | undefined = withWarm ? openWarmStore({ url: options.databaseUrl, schema: shadowSchema, max: 3, applicationName: 'tideway-replay' }) : undefined;
  const generations = withHot ? new HotGenerations(options.redis!, options.hotPrefix!) : undefined;
  const hotShadow = generations?.shadowPrefix(stamp);

  const targets: Target[] = [];
  if (shadow) {
    await migrateWarmStore(shadow, options.migrationsDir);
    targets.push({ projection: 'warm-events', stream: 'EVENTS', shadow: new WarmProjection(shadow, 'warm-events') });
    targets.push({ projection: 'warm-derived', stream: 'DERIVED', shadow: new WarmDerivedProjection(shadow, 'warm-derived') });
  }
  if (hotShadow) {
    targets.push({ projection: 'hot', stream: 'EVENTS', shadow: new HotProjectionStore({ redis: options.redis!, prefix: hotShadow, name: 'hot', derived: false }) });
    targets.push({ projection: 'hot-derived', stream: 'DERIVED', shadow: new HotProjectionStore({ redis: options.redis!, prefix: hotShadow, name: 'hot-derived', entities: false }) });
  }

  if (coldShadow && options.cold) {
    targets.push({ projection: 'cold-events', stream: 'EVENTS', shadow: createColdProjection({ store: options.cold, name: coldShadow.name, prefix: coldShadow.prefix }) });
  }

  const replay = async (t: Target, range: LogRange, phase: 'replay' | 'catch-up'): Promise<{ events: number; checkpoint: number }> => {
    const read = await readBounded({ nc: options.nc, stream: options.streamName(t.stream), range });
    return replayInto(t.shadow, read, (p) => options.onProgress?.({ ...p, projection: t.projection, phase }));
  };

  try {
    const results = new Map<string, { events: number; checkpoint: number }>();
    for (const t of targets) results.set(t.projection, await replay(t, options.range, 'replay'));

    let replacedSchema: string | undefined;
    if (!bounded) {
      const paused: { subject: string; reply: ControlReply | undefined }[] = [];
      const locks: WriterLock[] = [];
      try {
        for (const t of targets) {
          const subject = projectionControlSubject(options.scheme, t.projection);
          const reply = await control(options.nc, subject, 'pause');
          if (reply && !reply.ok) throw new Error(`the live ${t.projection} runner refused to pause: ${reply.error}`);
          paused.push({ subject, reply });
        }
        for (const t of targets) locks.push(await acquireProjectionLock(live, t.projection));
        for (const t of targets) {
          const before = results.get(t.projection)!;
          const more = await replay(t, { fromSeq: (await t.shadow.checkpoint()) + 1 }, 'catch-up');
          results.set(t.projection, { events: before.events + more.events, checkpoint: Math.max(before.checkpoint, more.checkpoint) });
        }
        if (shadow) {
          replacedSchema = `${options.schema}_replaced_${stamp}`;
          await swapProjectionTables(live, { live: options.schema, shadow: shadowSchema, retired: replacedSchema, projections: ['warm-events', 'warm-derived'] });
        }
        if (coldShadow && options.cold) await swapColdProjection(options.cold, coldShadow.name, `cold-events-replaced-${stamp}`, options.dropReplaced ?? false);
        if (generations && hotShadow) {
          const previous = await generations.promote(hotShadow);
          if (previous !== hotShadow) await generations.retire(previous);
        }
      } finally {
        for (const lock of locks) await lock.release();
        for (const p of paused) if (p.reply) await control(options.nc, p.subject, 'resume');
      }
      if (shadow) await dropSchema(live, shadowSchema);
      if (replacedSchema && options.dropReplaced) await dropSchema(live, replacedSchema);
    }

    const warmStore = bounded ? shadow : live;
    return {
      swapped: !bounded,
      projections: targets.map((t) => ({ projection: t.projection, ...results.get(t.projection)! })),
      ...(shadow && bounded ? { shadowSchema } : {}),
      ...(replacedSchema && !options.dropReplaced ? { replacedSchema } : {}),
      ...(hotShadow ? { hotPrefix: hotShadow } : {}),
      ...(coldShadow && options.cold ? { coldShadow: { ...coldShadow, objects: await countColdObjects(options.cold, bounded ? coldShadow.name : 'cold-events') } } : {}),
      ...(warmStore ? { warm: await warmChecksum(warmStore) } : {}),
      ...(hotShadow ? { hot: await hotChecksum(options.redis!, hotShadow) } : {}),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await shadow?.close();
    await live.close();
  }
}

const COLD_TABLES = ['cold_objects', 'cold_checkpoints', 'cold_columns'] as const;

/**
 * Swaps a rebuilt cold projection in: in one transaction the live manifest rows (`cold-events`) are renamed to
 * `retired` and the shadow's to `cold-events`. Readers take object keys from the manifest, so they follow at once.
 * With `drop`, the retired objects and rows are deleted afterwards.
 */
async function swapColdProjection(cold: ColdStore, shadowName: string, retired: string, drop: boolean): Promise<void> {
  await cold.sql.begin(async (tx) => {
    for (const table of COLD_TABLES) {
      await tx.unsafe(`update ${table} set projection = $1 where projection = 'cold-events'`, [retired]);
      await tx.unsafe(`update ${table} set projection = 'cold-events' where projection = $1`, [shadowName]);
    }
  });
  if (!drop) return;
  const keys = (await cold.sql<{ key: string }[]>`select key from cold_objects where projection = ${retired}`).map((r) => r.key);
  const live = new Set((await cold.sql<{ key: string }[]>`select key from cold_objects where projection = 'cold-events'`).map((r) => r.key));
  const orphans = keys.filter((k) => !live.has(k));
  for (let i = 0; i < orphans.length; i += 1000) await cold.s3.removeObjects(cold.bucket, orphans.slice(i, i + 1000));
  await cold.sql.begin(async (tx) => {
    for (const table of COLD_TABLES) await tx.unsafe(`delete from ${table} where projection = $1`, [retired]);
  });
}

async function countColdObjects(cold: ColdStore, projection: string): Promise<number> {
  const [row] = await cold.sql<{ n: number }[]>`select count(*)::int as n from cold_objects where projection = ${projection}`;
  return row?.n ?? 0;
}

