import type { NatsConnection } from '@nats-io/transport-node';
import type { SubjectScheme } from '@tideway/events';
import { projectionControlSubject, readBounded, replayInto, type ControlReply, type LogRange, type ReplayProgress } from '@tideway/projection';
import { WarmProjection, acquireProjectionLock, dropSchema, migrateWarmStore, openWarmStore, swapSchemas, warmChecksum } from '@tideway/warm';

export interface WarmRebuildOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly scheme: SubjectScheme;
  readonly databaseUrl: string;
  /** The live schema. */
  readonly schema: string;
  readonly migrationsDir: string;
  readonly range: LogRange;
  /** Drop the replaced schema after the swap (default: keep it for rollback). */
  readonly dropReplaced?: boolean;
  readonly onProgress?: (p: ReplayProgress & { phase: 'replay' | 'catch-up' }) => void;
  readonly now?: Date;
}

export interface WarmRebuildSummary {
  readonly projection: string;
  readonly shadow: string;
  readonly swapped: boolean;
  /** The schema the live store was renamed to (kept for rollback unless dropped). */
  readonly replaced?: string;
  readonly events: number;
  readonly checkpoint: number;
  readonly checksum: string;
  readonly rows: number;
  readonly entities: number;
  readonly seconds: number;
}

async function control(nc: NatsConnection, subject: string, op: 'pause' | 'resume'): Promise<ControlReply | undefined> {
  try {
    const reply = await nc.request(subject, JSON.stringify({ op }), { timeout: 30_000 });
    return reply.json<ControlReply>();
  } catch {
    return undefined; // no live projector answers: nothing to pause
  }
}

/**
 * Rebuilds the warm projection into a shadow schema while the live one keeps serving, then swaps it in:
 *
 * 1. migrate a fresh shadow schema and replay the range into it through the same `WarmProjection.apply`;
 * 2. with an open end: pause the live projector (its current batch commits, it releases the writer lock), take
 *    the lock, catch the shadow up to the stream's head, swap the schemas in one transaction, release and resume
 *    the projector, which continues from the shadow's checkpoint.
 *
 * A bounded range (`toSeq`/`toTime`) is a batch job: the shadow is left in place, not swapped.
 */
export async function rebuildWarm(options: WarmRebuildOptions): Promise<WarmRebuildSummary> {
  const started = Date.now();
  const stamp = (options.now ?? new Date()).toISOString().replace(/\D/g, '').slice(0, 14);
  const shadowName = `${options.schema}_rebuild_${stamp}`;
  const projectionName = 'warm-events';
  const bounded = options.range.toSeq !== undefined || options.range.toTime !== undefined;

  const shadow = openWarmStore({ url: options.databaseUrl, schema: shadowName, max: 3, applicationName: 'tideway-replay' });
  const live = openWarmStore({ url: options.databaseUrl, schema: options.schema, max: 2, applicationName: 'tideway-replay' });
  try {
    await migrateWarmStore(shadow, options.migrationsDir);
    const target = new WarmProjection(shadow, projectionName);
    const read = await readBounded({ nc: options.nc, stream: options.stream, range: options.range });
    let result = await replayInto(target, read, (p) => options.onProgress?.({ ...p, phase: 'replay' }));
    let events = result.events;
    if (bounded) {
      const sum = await warmChecksum(shadow);
      return { projection: projectionName, shadow: shadowName, swapped: false, events, checkpoint: result.checkpoint, checksum: sum.checksum, rows: sum.events, entities: sum.entities, seconds: (Date.now() - started) / 1000 };
    }

    const subject = projectionControlSubject(options.scheme, projectionName);
    const paused = await control(options.nc, subject, 'pause');
    if (paused && !paused.ok) throw new Error(`the live projector refused to pause: ${paused.error}`);
    let replaced: string | undefined;
    try {
      const lock = await acquireProjectionLock(live, projectionName);
      try {
        const catchUp = await readBounded({ nc: options.nc, stream: options.stream, range: { fromSeq: result.checkpoint + 1 } });
        const more = await replayInto(target, catchUp, (p) => options.onProgress?.({ ...p, phase: 'catch-up' }));
        events += more.events;
        result = { ...result, checkpoint: more.checkpoint };
        replaced = `${options.schema}_replaced_${stamp}`;
        await swapSchemas(live, options.schema, shadowName, replaced);
      } finally {
        await lock.release();
      }
    } finally {
      if (paused) await control(options.nc, subject, 'resume');
    }
    const sum = await warmChecksum(live);
    if (options.dropReplaced && replaced) await dropSchema(live, replaced);
    return {
      projection: projectionName,
      shadow: shadowName,
      swapped: true,
      ...(options.dropReplaced ? {} : { replaced }),
      events,
      checkpoint: result.checkpoint,
      checksum: sum.checksum,
      rows: sum.events,
      entities: sum.entities,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await shadow.close();
    await live.close();
  }
}
