/**
 * Keyed event-time windows (tumbling, hopping, session) with bounded-out-of-orderness watermarks, allowed
 * lateness, idle-partition handling and side outputs for late and invalid events.
 */
import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { Aggregate } from './aggregates.ts';
import { requireOption, requireSnapshot } from './errors.ts';
import { MinHeap } from './heap.ts';
import { fromJsonNumber, jsonNumber, type StateSlot } from './state.ts';
import { InvalidReason, type InvalidEvent, type Json } from './types.ts';
import { ReadFailure, readKey, readRaw, readTime } from './validate.ts';
import { WatermarkTracker } from './watermark.ts';

/** Fixed-size, non-overlapping windows `[k·size + offset, (k+1)·size + offset)`. */
export interface TumblingWindows {
  readonly type: 'tumbling';
  readonly sizeMs: number;
  readonly offsetMs: number;
}

/** Fixed-size windows starting every `slideMs`; an event belongs to `ceil(size / slide)` of them. */
export interface HoppingWindows {
  readonly type: 'hopping';
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly offsetMs: number;
}

/**
 * Per-key activity sessions: an event at t opens `[t, t + gap)`, and sessions that overlap merge. A session ends
 * once no event came for `gapMs` of event time (events exactly `gapMs` apart start a new session).
 */
export interface SessionWindows {
  readonly type: 'session';
  readonly gapMs: number;
}

/** How events are grouped into windows. Build one with {@link tumbling}, {@link hopping} or {@link session}. */
export type WindowSpec = TumblingWindows | HoppingWindows | SessionWindows;

function positive(value: number, name: string): void {
  requireOption(Number.isFinite(value) && value > 0, `${name} must be a finite number > 0, got ${value}`);
}

/**
 * Tumbling windows of `sizeMs`, aligned to the epoch plus `offsetMs`.
 *
 * @example
 * events$.pipe(windowAggregate({ window: tumbling(60_000), key, eventTime, value, aggregate: count() }));
 */
export function tumbling(sizeMs: number, options: { readonly offsetMs?: number } = {}): TumblingWindows {
  positive(sizeMs, 'sizeMs');
  const offsetMs = options.offsetMs ?? 0;
  requireOption(Number.isFinite(offsetMs), 'offsetMs must be finite');
  return { type: 'tumbling', sizeMs, offsetMs: ((offsetMs % sizeMs) + sizeMs) % sizeMs };
}

/**
 * Hopping (sliding) windows of `sizeMs` that start every `slideMs`.
 *
 * @example
 * // 5-minute averages, updated every minute
 * events$.pipe(windowAggregate({ window: hopping(300_000, 60_000), key, eventTime, value, aggregate: mean() }));
 */
export function hopping(sizeMs: number, slideMs: number, options: { readonly offsetMs?: number } = {}): HoppingWindows {
  positive(sizeMs, 'sizeMs');
  positive(slideMs, 'slideMs');
  requireOption(slideMs <= sizeMs, `slideMs (${slideMs}) must not exceed sizeMs (${sizeMs}); gaps would drop events`);
  const offsetMs = options.offsetMs ?? 0;
  requireOption(Number.isFinite(offsetMs), 'offsetMs must be finite');
  return { type: 'hopping', sizeMs, slideMs, offsetMs: ((offsetMs % slideMs) + slideMs) % slideMs };
}

/**
 * Session windows closed by `gapMs` of inactivity (in event time).
 *
 * @example
 * clicks$.pipe(windowAggregate({ window: session(30 * 60_000), key: (c) => c.user, eventTime, value: (c) => c, aggregate: count() }));
 */
export function session(gapMs: number): SessionWindows {
  positive(gapMs, 'gapMs');
  return { type: 'session', gapMs };
}

/** Identifies one window: `[start, end)` of one key. */
export interface WindowRef {
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

/** Why a window result was emitted. */
export type WindowTrigger = 'watermark' | 'late-event' | 'idle' | 'end-of-stream';

/** A window's aggregate. */
export interface WindowResult<R> {
  readonly kind: 'result';
  readonly window: WindowRef;
  readonly value: R;
  /** Events aggregated into it. */
  readonly count: number;
  /** No further result for this window will follow. */
  readonly final: boolean;
  /** Late events incorporated after the window first fired (0 for the on-time result). > 0 marks an update. */
  readonly updateCount: number;
  readonly trigger: WindowTrigger;
  /**
   * Windows emitted earlier that this one supersedes: a late event that bridges session windows merges them, and
   * consumers should drop the results of the listed windows.
   */
  readonly replaces: readonly WindowRef[];
  /**
   * Set (true) only on results emitted on a `provisional` notification: a preview of a window that is still open.
   * It changes no state, and the window's real result follows later.
   */
  readonly provisional?: true;
}

/**
 * Why an event is late: its windows were closed for good (`beyond-allowed-lateness`, from {@link windowAggregate}),
 * or its time lies before the watermark minus the allowed lateness (`before-watermark-horizon`, from `lateGate`).
 */
export type LateReason = 'beyond-allowed-lateness' | 'before-watermark-horizon';

/** Side output: an event too late for every window it belongs to (its windows were already closed for good). */
export interface LateEvent<E> {
  readonly kind: 'late';
  readonly event: E;
  readonly key: string;
  readonly eventTime: number;
  /** The watermark when it arrived. */
  readonly watermark: number;
  readonly reason: LateReason;
}

/** Progress marker, emitted on each watermark advance when `emitWatermarks` is set. */
export interface WatermarkAdvance {
  readonly kind: 'watermark';
  readonly watermark: number;
  /** The advance came from the idle timeout rather than from events. */
  readonly idle: boolean;
}

/** Everything {@link windowAggregate} emits: results plus side outputs, told apart by `kind`. */
export type WindowOutput<E, R> = WindowResult<R> | LateEvent<E> | InvalidEvent<E> | WatermarkAdvance;

/** Options of {@link windowAggregate}. */
export interface WindowAggregateOptions<E, I, S, R> {
  readonly window: WindowSpec;
  /** Grouping key; windows are per key. */
  readonly key: (event: E) => string;
  /** Event time in ms. */
  readonly eventTime: (event: E) => number;
  /** What the aggregate consumes from each event (pass `(e) => e` for {@link count}). */
  readonly value: (event: E) => I;
  readonly aggregate: Aggregate<I, S, R>;
  /** How far behind the largest event time seen an event may arrive and still be on time. Default 0. */
  readonly maxOutOfOrdernessMs?: number;
  /** How long after the watermark passed a window's end late events still update it. Default 0. */
  readonly allowedLatenessMs?: number;
  /**
   * Processing time (the scheduler's clock) after which a silent partition stops holding the watermark back;
   * when all are silent the watermark advances with processing time. Default: never.
   */
  readonly idleTimeoutMs?: number;
  /** Source partition of an event, for per-partition watermarks (e.g. the NATS subject partition). Default: one. */
  readonly partition?: (event: E) => string;
  /**
   * Events whose time is more than this far ahead of the scheduler's clock are `invalid` (`future-event-time`):
   * one bad clock must not push the watermark past everyone else. Default 1 day; `Infinity` switches it off
   * (needed when a virtual scheduler's clock is far behind the event times).
   */
  readonly maxFutureMs?: number;
  /** Emit a {@link WatermarkAdvance} whenever the watermark moves. Default false. */
  readonly emitWatermarks?: boolean;
  /** Clock for processing time. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /**
   * Checkpointable state: the operator starts from `state.initial` (a snapshot it wrote) and reports its open
   * windows, timers and watermark through the slot. See {@link StateRegistry}.
   */
  readonly state?: StateSlot;
  /**
   * Each notification emits a provisional result (`provisional: true`, `final: false`, trigger `idle`) for every
   * open window that has not fired yet, ordered by end, key and start, without changing any state: a live runtime
   * can show the windows of a quiet stream while their real results still wait for event time to move on.
   */
  readonly provisional?: Observable<unknown>;
}

interface Pane<S> {
  readonly key: string;
  start: number;
  end: number;
  state: S;
  count: number;
  /** A result for this pane (with its current or earlier bounds) has been emitted. */
  fired: boolean;
  updateCount: number;
  replaces: WindowRef[];
  alive: boolean;
}

const FIRE = 0;
const PURGE = 1;
interface Timer<S> {
  readonly at: number;
  readonly type: typeof FIRE | typeof PURGE;
  readonly pane: Pane<S>;
}

/** Orders timers so that output order depends on window positions, not on arrival order. */
function timerBefore<S>(a: Timer<S>, b: Timer<S>): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.type !== b.type) return a.type < b.type;
  if (a.pane.key !== b.pane.key) return a.pane.key < b.pane.key;
  return a.pane.start < b.pane.start;
}

const ONE_DAY = 86_400_000;

/** Output order of panes emitted together: by end, then key, then start. */
function paneOrder<S>(a: Pane<S>, b: Pane<S>): number {
  return a.end - b.end || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || a.start - b.start;
}

/** @internal The window state machine behind {@link windowAggregate}; RxJS-free so its rules are testable. */
export class WindowEngine<E, I, S, R> {
  private readonly spec: WindowSpec;
  private readonly lateness: number;
  private readonly maxFutureMs: number;
  private readonly clock: WatermarkTracker;
  /** Tumbling/hopping panes: key → window start → pane. */
  private readonly fixed = new Map<string, Map<number, Pane<S>>>();
  /** Session panes per key, ascending and disjoint. */
  private readonly sessions = new Map<string, Pane<S>[]>();
  private readonly timers = new MinHeap<Timer<S>>(timerBefore);
  private lastEmittedWatermark = -Infinity;

  constructor(
    private readonly options: WindowAggregateOptions<E, I, S, R>,
    private readonly emit: (item: WindowOutput<E, R>) => void,
  ) {
    this.spec = options.window;
    this.lateness = options.allowedLatenessMs ?? 0;
    this.maxFutureMs = options.maxFutureMs ?? ONE_DAY;
    requireOption(Number.isFinite(this.lateness) && this.lateness >= 0, `allowedLatenessMs must be a finite number ≥ 0, got ${this.lateness}`);
    requireOption(this.maxFutureMs > 0, `maxFutureMs must be > 0, got ${this.maxFutureMs}`);
    this.clock = new WatermarkTracker(options.maxOutOfOrdernessMs ?? 0, options.idleTimeoutMs);
  }

  get watermark(): number {
    return this.clock.watermark;
  }

  /** Handles one event arriving at processing time `now`. */
  onEvent(event: E, now: number): void {
    const key = readKey(event, this.options.key);
    if (key instanceof ReadFailure) return this.invalid(event, key);
    const t = readTime(event, this.options.eventTime);
    if (t instanceof ReadFailure) return this.invalid(event, t);
    const raw = readRaw(event, this.options.value);
    if (raw instanceof ReadFailure) return this.invalid(event, raw);
    const problem = this.options.aggregate.check(raw);
    if (problem) return this.invalid(event, problem);
    if (t > now + this.maxFutureMs) {
      return this.invalid(event, { reason: InvalidReason.FutureEventTime, detail: `event time ${t} is more than ${this.maxFutureMs} ms after ${now}` });
    }
    let partition = '';
    if (this.options.partition) {
      const p = readKey(event, this.options.partition);
      if (p instanceof ReadFailure) return this.invalid(event, { reason: p.reason, detail: `partition: ${p.detail ?? p.reason}` });
      partition = p;
    }
    const input = raw as I;
    const accepted = this.spec.type === 'session' ? this.assignSession(key, t, input) : this.assignFixed(key, t, input);
    if (!accepted) {
      this.emit({ kind: 'late', event, key, eventTime: t, watermark: this.clock.watermark, reason: 'beyond-allowed-lateness' });
    }
    this.clock.observe(partition, t, now);
    this.advance(now, 'watermark');
  }

  /** Processing-time tick: marks idle partitions and advances the watermark accordingly. */
  onTick(now: number): void {
    this.clock.markIdle(now);
    this.advance(now, 'idle');
  }

  /** The processing time at which {@link WindowEngine.onTick} should run next, if any. */
  nextTick(now: number): number | undefined {
    const idleCheck = this.clock.nextIdleCheck();
    if (idleCheck !== undefined) return idleCheck;
    const next = this.timers.peek();
    return next === undefined ? undefined : this.clock.idleTimeToReach(next.at, now);
  }

  /**
   * The engine's state as JSON: the watermark clock and every open pane with its aggregate snapshot. Timers are
   * not stored: each live pane has exactly one that matters (fire at its end until it fired, purge at end +
   * lateness after), so {@link WindowEngine.restore} rebuilds them.
   */
  snapshot(): Json {
    const panes: Pane<S>[] = [];
    for (const byStart of this.fixed.values()) for (const pane of byStart.values()) panes.push(pane);
    for (const list of this.sessions.values()) panes.push(...list);
    panes.sort(paneOrder);
    const agg = this.options.aggregate;
    return {
      kind: 'windows',
      v: 1,
      window: { ...this.spec },
      aggregate: agg.name,
      allowedLatenessMs: this.lateness,
      clock: this.clock.snapshot(),
      lastEmittedWatermark: jsonNumber(this.lastEmittedWatermark),
      panes: panes.map((p) => ({
        key: p.key,
        start: p.start,
        end: p.end,
        state: agg.snapshot(p.state),
        count: p.count,
        fired: p.fired,
        updateCount: p.updateCount,
        replaces: p.replaces.map((r) => [r.start, r.end]),
      })),
    };
  }

  /** Replaces the (fresh) engine's state with a {@link WindowEngine.snapshot} taken with the same options. */
  restore(json: Json): void {
    requireSnapshot(typeof json === 'object' && json !== null && !Array.isArray(json), 'windows snapshot must be an object');
    const o = json as { readonly [k: string]: Json };
    requireSnapshot(o['kind'] === 'windows' && o['v'] === 1, 'not a windows snapshot (v1)');
    requireSnapshot(JSON.stringify(o['window']) === JSON.stringify({ ...this.spec }), `windows snapshot is of window ${JSON.stringify(o['window'])}, not ${JSON.stringify(this.spec)}`);
    requireSnapshot(o['aggregate'] === this.options.aggregate.name, `windows snapshot holds ${JSON.stringify(o['aggregate'])} states, not ${this.options.aggregate.name}`);
    requireSnapshot(o['allowedLatenessMs'] === this.lateness, 'windows snapshot was taken with another allowed lateness');
    const clock = o['clock'];
    requireSnapshot(clock !== undefined, 'windows snapshot lacks its clock');
    this.clock.restore(clock);
    this.lastEmittedWatermark = fromJsonNumber(o['lastEmittedWatermark'], -Infinity);
    const panes = o['panes'];
    requireSnapshot(Array.isArray(panes), 'windows snapshot lacks panes');
    this.fixed.clear();
    this.sessions.clear();
    this.timers.clear();
    for (const item of panes as readonly Json[]) {
      requireSnapshot(typeof item === 'object' && item !== null && !Array.isArray(item), 'bad pane in windows snapshot');
      const p = item as { readonly [k: string]: Json };
      const { key, start, end, count, fired, updateCount, replaces } = p;
      requireSnapshot(
        typeof key === 'string' && typeof start === 'number' && typeof end === 'number' && typeof count === 'number' && typeof fired === 'boolean' && typeof updateCount === 'number' && Array.isArray(replaces),
        'pane in windows snapshot lacks fields',
      );
      const pane: Pane<S> = {
        key,
        start,
        end,
        state: this.options.aggregate.restore(p['state'] ?? null),
        count,
        fired,
        updateCount,
        replaces: (replaces as readonly Json[]).map((r) => {
          requireSnapshot(Array.isArray(r) && r.length === 2 && typeof r[0] === 'number' && typeof r[1] === 'number', 'bad replaced window');
          return { key, start: r[0], end: r[1] };
        }),
        alive: true,
      };
      if (this.spec.type === 'session') {
        const list = this.sessions.get(key) ?? [];
        list.push(pane);
        this.sessions.set(key, list);
      } else {
        let byStart = this.fixed.get(key);
        if (!byStart) {
          byStart = new Map();
          this.fixed.set(key, byStart);
        }
        byStart.set(start, pane);
      }
      this.timers.push(fired ? { at: end + this.lateness, type: PURGE, pane } : { at: end, type: FIRE, pane });
    }
    for (const list of this.sessions.values()) list.sort((a, b) => a.start - b.start);
  }

  /** Emits a provisional result for every open window that has not fired; changes nothing. */
  peek(): void {
    const open: Pane<S>[] = [];
    for (const byStart of this.fixed.values()) for (const pane of byStart.values()) if (!pane.fired) open.push(pane);
    for (const list of this.sessions.values()) for (const pane of list) if (!pane.fired) open.push(pane);
    open.sort(paneOrder);
    const agg = this.options.aggregate;
    for (const pane of open) {
      // result() must not see a state that a later add() mutates: snapshot/restore gives an independent copy.
      this.emit({
        kind: 'result',
        window: { key: pane.key, start: pane.start, end: pane.end },
        value: agg.result(agg.restore(agg.snapshot(pane.state))),
        count: pane.count,
        final: false,
        updateCount: pane.updateCount,
        trigger: 'idle',
        replaces: pane.replaces,
        provisional: true,
      });
    }
  }

  /** End of input: every open window emits its final result. */
  flush(): void {
    const open: Pane<S>[] = [];
    for (let timer = this.timers.pop(); timer !== undefined; timer = this.timers.pop()) {
      const pane = timer.pane;
      if (!pane.alive || timer.at !== (timer.type === FIRE ? pane.end : pane.end + this.lateness)) continue;
      this.remove(pane);
      open.push(pane);
    }
    open.sort(paneOrder);
    for (const pane of open) this.result(pane, true, 'end-of-stream');
  }

  private invalid(event: E, read: { readonly reason: InvalidReason; readonly detail?: string }): void {
    this.emit(read.detail === undefined ? { kind: 'invalid', event, reason: read.reason } : { kind: 'invalid', event, reason: read.reason, detail: read.detail });
  }

  private advance(now: number, cause: 'watermark' | 'idle'): void {
    const wm = this.clock.advance(now);
    if (this.options.emitWatermarks && wm > this.lastEmittedWatermark) {
      this.lastEmittedWatermark = wm;
      this.emit({ kind: 'watermark', watermark: wm, idle: cause === 'idle' && this.clock.allIdle });
    }
    for (let timer = this.timers.peek(); timer !== undefined && timer.at <= wm; timer = this.timers.peek()) {
      this.timers.pop();
      const pane = timer.pane;
      if (!pane.alive) continue;
      if (timer.type === FIRE) {
        if (pane.end !== timer.at || pane.fired) continue;
        pane.fired = true;
        if (this.lateness === 0) {
          this.remove(pane);
          this.result(pane, true, cause);
        } else {
          this.result(pane, false, cause);
          this.timers.push({ at: pane.end + this.lateness, type: PURGE, pane });
        }
      } else {
        if (pane.end + this.lateness !== timer.at) continue;
        this.remove(pane);
        this.result(pane, true, cause);
      }
    }
  }

  private result(pane: Pane<S>, final: boolean, trigger: WindowTrigger): void {
    this.emit({
      kind: 'result',
      window: { key: pane.key, start: pane.start, end: pane.end },
      value: this.options.aggregate.result(pane.state),
      count: pane.count,
      final,
      updateCount: pane.updateCount,
      trigger,
      replaces: pane.replaces,
    });
  }

  private remove(pane: Pane<S>): void {
    pane.alive = false;
    if (this.spec.type === 'session') {
      const list = this.sessions.get(pane.key);
      if (!list) return;
      const i = list.indexOf(pane);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.sessions.delete(pane.key);
    } else {
      const byStart = this.fixed.get(pane.key);
      byStart?.delete(pane.start);
      if (byStart?.size === 0) this.fixed.delete(pane.key);
    }
  }

  private newPane(key: string, start: number, end: number): Pane<S> {
    return { key, start, end, state: this.options.aggregate.init(), count: 0, fired: false, updateCount: 0, replaces: [], alive: true };
  }

  /** Adds the value to a pane that is open or within lateness; emits an update if the pane had already fired. */
  private addTo(pane: Pane<S>, input: I, isNew: boolean): void {
    const agg = this.options.aggregate;
    pane.state = agg.add(pane.state, input);
    pane.count++;
    const wm = this.clock.watermark;
    if (pane.fired || (isNew && wm >= pane.end)) {
      // A late event within allowed lateness: re-emit now, close when the watermark passes end + lateness.
      pane.updateCount++;
      if (!pane.fired) this.timers.push({ at: pane.end + this.lateness, type: PURGE, pane });
      pane.fired = true;
      this.result(pane, false, 'late-event');
    } else if (isNew) {
      this.timers.push({ at: pane.end, type: FIRE, pane });
    }
  }

  private assignFixed(key: string, t: number, input: I): boolean {
    const spec = this.spec as TumblingWindows | HoppingWindows;
    const slide = spec.type === 'hopping' ? spec.slideMs : spec.sizeMs;
    const wm = this.clock.watermark;
    const lastStart = Math.floor((t - spec.offsetMs) / slide) * slide + spec.offsetMs;
    let accepted = false;
    let byStart = this.fixed.get(key);
    for (let start = lastStart; start > t - spec.sizeMs; start -= slide) {
      const end = start + spec.sizeMs;
      if (wm >= end + this.lateness) continue;
      accepted = true;
      if (!byStart) {
        byStart = new Map();
        this.fixed.set(key, byStart);
      }
      let pane = byStart.get(start);
      const isNew = pane === undefined;
      if (!pane) {
        pane = this.newPane(key, start, end);
        byStart.set(start, pane);
      }
      this.addTo(pane, input, isNew);
    }
    return accepted;
  }

  private assignSession(key: string, t: number, input: I): boolean {
    const gap = (this.spec as SessionWindows).gapMs;
    const wm = this.clock.watermark;
    const list = this.sessions.get(key) ?? [];
    let start = t;
    let end = t + gap;
    const overlapping = list.filter((p) => p.start < t + gap && t < p.end);
    for (const p of overlapping) {
      start = Math.min(start, p.start);
      end = Math.max(end, p.end);
    }
    if (wm >= end + this.lateness) return false;
    if (!this.sessions.has(key)) this.sessions.set(key, list);

    if (overlapping.length === 0) {
      const pane = this.newPane(key, start, end);
      const at = list.findIndex((p) => p.start > start);
      if (at === -1) list.push(pane);
      else list.splice(at, 0, pane);
      this.addTo(pane, input, true);
      return true;
    }

    const agg = this.options.aggregate;
    const target = overlapping[0] as Pane<S>;
    const wasFired = overlapping.some((p) => p.fired);
    const boundsChange = start !== target.start || end !== target.end || overlapping.length > 1;
    const replaces: WindowRef[] = [];
    for (const p of overlapping) {
      replaces.push(...p.replaces);
      if (p.fired && (p !== target || boundsChange)) replaces.push({ key, start: p.start, end: p.end });
    }
    let updateCount = target.updateCount;
    for (const p of overlapping.slice(1)) {
      target.state = agg.merge(target.state, p.state);
      target.count += p.count;
      updateCount = Math.max(updateCount, p.updateCount);
      p.alive = false;
      list.splice(list.indexOf(p), 1);
    }
    const endChanged = end !== target.end;
    target.start = start;
    target.end = end;
    target.updateCount = updateCount;
    target.replaces = replaces.filter((r) => r.start !== start || r.end !== end);
    target.state = agg.add(target.state, input);
    target.count++;

    if (!wasFired) {
      if (endChanged) this.timers.push({ at: end, type: FIRE, pane: target });
      return true;
    }
    // A late event touched an emitted session: emit the merged window as an update now if its end has passed,
    // otherwise re-arm it to fire (as an update) when the watermark reaches the new end.
    target.updateCount++;
    if (wm >= end) {
      target.fired = true;
      if (endChanged) this.timers.push({ at: end + this.lateness, type: PURGE, pane: target });
      this.result(target, false, 'late-event');
    } else {
      target.fired = false;
      this.timers.push({ at: end, type: FIRE, pane: target });
    }
    return true;
  }
}

/**
 * Keyed event-time window aggregation. Emits a discriminated union: `result` per window (on time when the
 * watermark passes its end; as an update for each late event within `allowedLatenessMs`; `final: true` once it
 * can no longer change), `late` for events past the allowed lateness, `invalid` for events whose key, time or
 * value is unusable, and optionally `watermark` progress. Nothing is dropped silently and bad input never errors
 * the stream. Completion of the source flushes every open window (this is how a bounded replay ends).
 *
 * @example
 * readings$.pipe(
 *   windowAggregate({
 *     window: tumbling(60_000),
 *     key: (r) => r.event.partitionkey,
 *     eventTime: (r) => Date.parse(r.event.time),
 *     value: (r) => (r.event.data as { value: number }).value,
 *     aggregate: stats(),
 *     maxOutOfOrdernessMs: 5_000,
 *     allowedLatenessMs: 60_000,
 *     idleTimeoutMs: 30_000,
 *   }),
 * );
 */
export function windowAggregate<E, I, S, R>(options: WindowAggregateOptions<E, I, S, R>): OperatorFunction<E, WindowOutput<E, R>> {
  // Validate options eagerly, at pipeline construction.
  new WindowEngine(options, () => undefined);
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<WindowOutput<E, R>>((subscriber) => {
      const engine = new WindowEngine<E, I, S, R>(options, (item) => subscriber.next(item));
      if (options.state?.initial !== undefined) engine.restore(options.state.initial);
      const unbind = options.state?.bind(() => engine.snapshot());
      const peek = options.provisional?.subscribe({ next: () => engine.peek(), error: (err: unknown) => subscriber.error(err) });
      let tick: Subscription | undefined;
      let tickAt = Infinity;
      const arm = (): void => {
        const now = scheduler.now();
        const due = engine.nextTick(now);
        if (due === undefined) {
          tick?.unsubscribe();
          tick = undefined;
          tickAt = Infinity;
          return;
        }
        if (tick && tickAt <= due) return;
        tick?.unsubscribe();
        tickAt = due;
        tick = scheduler.schedule(() => {
          tick = undefined;
          tickAt = Infinity;
          engine.onTick(scheduler.now());
          arm();
        }, Math.max(0, due - now));
      };
      const idle = options.idleTimeoutMs !== undefined;
      const sub = source.subscribe({
        next: (event) => {
          engine.onEvent(event, scheduler.now());
          if (idle) arm();
        },
        error: (err: unknown) => {
          tick?.unsubscribe();
          subscriber.error(err);
        },
        complete: () => {
          tick?.unsubscribe();
          engine.flush();
          subscriber.complete();
        },
      });
      return () => {
        tick?.unsubscribe();
        sub.unsubscribe();
        peek?.unsubscribe();
        unbind?.();
      };
    });
}

/**
 * Keeps only window results (optionally only final ones), dropping side outputs. Use it where side outputs are
 * consumed elsewhere (e.g. via `share()` and a second subscriber), never to silence them.
 *
 * @example
 * const out$ = events$.pipe(windowAggregate(opts), share());
 * out$.pipe(windowResults({ finalOnly: true })).subscribe(writeResults);
 * out$.pipe(filter((o) => o.kind === 'late' || o.kind === 'invalid')).subscribe(deadLetter);
 */
export function windowResults<E, R>(options: { readonly finalOnly?: boolean } = {}): OperatorFunction<WindowOutput<E, R>, WindowResult<R>> {
  return (source) =>
    new Observable<WindowResult<R>>((subscriber) =>
      source.subscribe({
        next: (item) => {
          if (item.kind === 'result' && (!options.finalOnly || item.final)) subscriber.next(item);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}
