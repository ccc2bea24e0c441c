import type { EntityReducer, EntityReducers, EntityState } from '@tideway/entities';
import { parseTime, type StoredEvent } from '@tideway/events';
import { parseDerived, signalMember, windowMember, type DerivedItem, type DerivedKind } from './derived.ts';
import { windowIndexMember, type HotKeys } from './keys.ts';

/** The resolved settings the planner works with (see `HotProjectionStoreOptions` for their meaning). */
export interface HotSettings {
  readonly keys: HotKeys;
  /** Entity reducers, or undefined when this instance keeps no entity state. */
  readonly reducers: EntityReducers | undefined;
  /** Derived event types by how they are kept; empty when this instance keeps none. */
  readonly derived: ReadonlyMap<string, DerivedKind>;
  readonly entityTtlMs: number | undefined;
  readonly windowRetentionMs: number;
  readonly anomalyRetentionMs: number;
  readonly alertRetentionMs: number;
  readonly maxValueBytes: number;
  readonly maxWindowsPerKey: number;
  readonly maxAnomalies: number;
  readonly maxAlerts: number;
}

/** What the store does with one event. */
export type Route =
  | { readonly kind: 'entity'; readonly key: string; readonly reducer: EntityReducer }
  | { readonly kind: 'derived'; readonly item: DerivedItem }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'none' };

/** Decides what the store does with one event (pure). */
export function routeEvent(settings: HotSettings, stored: StoredEvent): Route {
  const { event } = stored;
  const derivedKind = settings.derived.get(event.type);
  if (derivedKind !== undefined) {
    const parsed = parseDerived(derivedKind, stored);
    return parsed.ok ? { kind: 'derived', item: parsed.item } : { kind: 'invalid', reason: parsed.reason };
  }
  if (!settings.reducers) return { kind: 'none' };
  const reducer = settings.reducers.for(event.type);
  try {
    const ref = reducer.entityOf(event);
    return ref
      ? { kind: 'entity', key: settings.keys.entity(event.tenant, ref.entityType, ref.entityId), reducer }
      : { kind: 'none' };
  } catch (error) {
    return { kind: 'invalid', reason: `the ${event.type} reducer cannot tell the entity: ${(error as Error).message}` };
  }
}

/**
 * One write of the apply script. `seq` is the stream sequence the write comes from (the script skips writes at or
 * below the stored checkpoint); the meaning of `a1..a3` depends on `op`:
 *
 * - `set`   a1 value, a2 expire-at ms (`0`: none)          — SET, or SET … PXAT
 * - `zput`  a1 score, a2 member                             — replace the members with that score by this one
 * - `zadd`  a1 score, a2 member                             — ZADD (the same member twice is one)
 * - `zmax`  a1 score, a2 member                             — ZADD GT (keep the highest score)
 * - `zdel`  a1 score                                        — remove the members with that score
 * - `ztrim` a1 retention ms, a2 max members (`0`: no cap), a3 expire after newest ms
 *           — drop members older than the newest minus the retention, keep the newest `a2`, and let the key
 *             expire `a3` after its newest member. Every bound is relative to the zset's own newest score, so
 *             the result does not depend on how events were cut into batches.
 */
export interface HotOp {
  readonly op: 'set' | 'zput' | 'zadd' | 'zmax' | 'zdel' | 'ztrim';
  readonly seq: number;
  readonly key: string;
  readonly a1: string;
  readonly a2: string;
  readonly a3: string;
}

/** An event whose effect the store could not keep although `reject` let it through (e.g. state that outgrew the limit). */
export interface DroppedEffect {
  readonly seq: number;
  readonly reason: string;
}

/** The writes of one batch. */
export interface HotPlan {
  readonly ops: readonly HotOp[];
  readonly dropped: readonly DroppedEffect[];
}

const num = (x: number): string => String(x);

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Why the store cannot keep `stored`, or undefined when it can: a derived event of the wrong shape, a reducer
 * that fails on it, or a value larger than `maxValueBytes`. Entity state is checked as the event's first state
 * (the reducers' states do not grow with history); state that still outgrows the limit later is dropped by
 * {@link planBatch} and reported.
 */
export function rejectReason(settings: HotSettings, stored: StoredEvent): string | undefined {
  const route = routeEvent(settings, stored);
  switch (route.kind) {
    case 'none':
      return undefined;
    case 'invalid':
      return route.reason;
    case 'entity': {
      let json: string;
      try {
        json = JSON.stringify(route.reducer.reduce(undefined, stored.event, stored.seq));
      } catch (error) {
        return `the ${stored.event.type} reducer failed: ${(error as Error).message}`;
      }
      const size = bytes(json);
      return size > settings.maxValueBytes
        ? `entity state of ${size} bytes exceeds the hot store's limit of ${settings.maxValueBytes} bytes`
        : undefined;
    }
    case 'derived': {
      const { item } = route;
      const member = item.kind === 'window' ? windowMember(stored, item) : signalMember(stored, item);
      const size = bytes(member);
      return size > settings.maxValueBytes
        ? `${item.kind} of ${size} bytes exceeds the hot store's limit of ${settings.maxValueBytes} bytes`
        : undefined;
    }
  }
}

interface Trim {
  seq: number;
  readonly retentionMs: number;
  readonly maxMembers: number;
}

/**
 * Plans the writes of a batch (pure): folds each entity's events, in sequence order, into the state read from
 * Redis (`current`, keyed by entity key; absent or undefined: no state yet) and writes only the final state of
 * each entity; turns derived events into zset writes in sequence order, then trims each zset touched.
 * `fresh` must be ascending and above the checkpoint.
 */
export function planBatch(
  settings: HotSettings,
  fresh: readonly StoredEvent[],
  current: ReadonlyMap<string, EntityState | undefined>,
): HotPlan {
  const derivedOps: HotOp[] = [];
  const dropped: DroppedEffect[] = [];
  const states = new Map<string, { state: EntityState; json: string; seq: number; recordedMs: number }>();
  const trims = new Map<string, Trim>();
  const trim = (key: string, seq: number, retentionMs: number, maxMembers: number): void => {
    const existing = trims.get(key);
    if (existing) existing.seq = seq;
    else trims.set(key, { seq, retentionMs, maxMembers });
  };

  for (const stored of fresh) {
    const route = routeEvent(settings, stored);
    const { seq, event } = stored;
    if (route.kind === 'none') continue;
    if (route.kind === 'invalid') {
      dropped.push({ seq, reason: route.reason });
      continue;
    }
    if (route.kind === 'entity') {
      const previous = states.has(route.key) ? states.get(route.key)!.state : current.get(route.key);
      let next: EntityState;
      let json: string;
      try {
        next = route.reducer.reduce(previous, event, seq);
        json = JSON.stringify(next);
      } catch (error) {
        dropped.push({ seq, reason: `the ${event.type} reducer failed: ${(error as Error).message}` });
        continue;
      }
      if (bytes(json) > settings.maxValueBytes) {
        dropped.push({
          seq,
          reason: `entity state of ${bytes(json)} bytes exceeds the hot store's limit of ${settings.maxValueBytes} bytes`,
        });
        continue;
      }
      states.set(route.key, { state: next, json, seq, recordedMs: parseTime(event.recordedtime) });
      continue;
    }
    const { item } = route;
    const tenant = event.tenant;
    if (item.kind === 'window') {
      const key = settings.keys.windows(tenant, item.pipeline, item.stage, item.key);
      for (const replaced of item.replaces)
        derivedOps.push({ op: 'zdel', seq, key, a1: num(replaced.start), a2: '', a3: '' });
      derivedOps.push({ op: 'zput', seq, key, a1: num(item.window.start), a2: windowMember(stored, item), a3: '' });
      trim(key, seq, settings.windowRetentionMs, settings.maxWindowsPerKey);
      const index = settings.keys.windowKeys(tenant, item.pipeline);
      derivedOps.push({
        op: 'zmax',
        seq,
        key: index,
        a1: num(item.window.start),
        a2: windowIndexMember(item.stage, item.key),
        a3: '',
      });
      trim(index, seq, settings.windowRetentionMs, 0);
    } else {
      const anomaly = item.kind === 'anomaly';
      const key = anomaly ? settings.keys.anomalies(tenant) : settings.keys.alerts(tenant);
      derivedOps.push({ op: 'zadd', seq, key, a1: num(item.time), a2: signalMember(stored, item), a3: '' });
      trim(
        key,
        seq,
        anomaly ? settings.anomalyRetentionMs : settings.alertRetentionMs,
        anomaly ? settings.maxAnomalies : settings.maxAlerts,
      );
    }
  }

  const ops: HotOp[] = [];
  for (const [key, s] of states) {
    const expireAt =
      settings.entityTtlMs !== undefined && Number.isFinite(s.recordedMs) ? s.recordedMs + settings.entityTtlMs : 0;
    ops.push({ op: 'set', seq: s.seq, key, a1: s.json, a2: num(expireAt), a3: '' });
  }
  ops.push(...derivedOps);
  for (const [key, t] of trims)
    ops.push({ op: 'ztrim', seq: t.seq, key, a1: num(t.retentionMs), a2: num(t.maxMembers), a3: num(t.retentionMs) });
  return { ops, dropped };
}
