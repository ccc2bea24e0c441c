/**
 * Operator wrappers around the detectors: per-key scoring, thresholding into anomaly events, and alerting with a
 * per-key cooldown. State lives inside each subscription; detectors can be checkpointed in-band and restored.
 */
import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { CombinedDetector, DEFAULT_DETECTOR_OPTIONS, restoreDetector, type AnomalyDetector } from './detectors.ts';
import { requireOption, requireSnapshot } from './errors.ts';
import type { StateSlot } from './state.ts';
import type { InvalidEvent, Json } from './types.ts';
import { ReadFailure, readKey, readNumber, readTime } from './validate.ts';

/** One scored point. */
export interface ScoredPoint<E> {
  readonly kind: 'score';
  readonly event: E;
  readonly key: string;
  readonly value: number;
  /** Event time, when an `eventTime` accessor was given. */
  readonly time: number | undefined;
  /** Anomaly score in [0, 1]. */
  readonly score: number;
  /** Per-component scores, when the detector is a {@link CombinedDetector}. */
  readonly components: Readonly<Record<string, number>>;
}

/** In-band checkpoint of every key's detector, emitted when the `checkpoint` notifier fires. */
export interface DetectorCheckpoint {
  readonly kind: 'checkpoint';
  /** Detector snapshot per key; pass it back as `restore` to continue. */
  readonly detectors: Readonly<Record<string, Json>>;
}

/** Options of {@link anomalyScores}. */
export interface AnomalyScoresOptions<E> {
  /** The series key: each key gets its own detector. */
  readonly key: (event: E) => string;
  /** The value to score. Missing or non-numeric values go to the `invalid` side output. */
  readonly value: (event: E) => number;
  /** Event time (ms), carried into the output for {@link alerts}; invalid times go to the side output. */
  readonly eventTime?: (event: E) => number;
  /** Builds the detector of a new key. Default: a {@link CombinedDetector} with {@link DEFAULT_DETECTOR_OPTIONS}. */
  readonly detector?: (key: string) => AnomalyDetector;
  /** Detector snapshots per key (from a {@link DetectorCheckpoint}) to start from. */
  readonly restore?: Readonly<Record<string, Json>>;
  /** Each notification emits a {@link DetectorCheckpoint} of all detectors, in order with the scores. */
  readonly checkpoint?: Observable<unknown>;
  /**
   * Out-of-band checkpointing (see `StateRegistry`): the detectors start from `state.initial` (which takes
   * precedence over `restore`) and are reported through the slot as `{ key: detector snapshot }`.
   */
  readonly state?: StateSlot;
}

/**
 * Scores every element with a per-key online detector. Invalid elements are routed to an `invalid` side
 * output and do not touch the detector.
 *
 * @example
 * readings$.pipe(
 *   anomalyScores({ key: (r) => r.sensor, value: (r) => r.celsius, eventTime: (r) => r.at }),
 *   anomalies(0.6),
 *   alerts({ cooldownMs: 15 * 60_000 }),
 * );
 */
export function anomalyScores<E>(
  options: AnomalyScoresOptions<E>,
): OperatorFunction<E, ScoredPoint<E> | InvalidEvent<E> | DetectorCheckpoint> {
  const factory = options.detector ?? (() => new CombinedDetector(DEFAULT_DETECTOR_OPTIONS));
  return (source) =>
    new Observable((subscriber) => {
      const detectors = new Map<string, AnomalyDetector>();
      const initial = options.state?.initial ?? options.restore ?? {};
      requireSnapshot(typeof initial === 'object' && initial !== null && !Array.isArray(initial), 'anomaly scores snapshot must be an object');
      for (const [key, json] of Object.entries(initial as Readonly<Record<string, Json>>)) detectors.set(key, restoreDetector(json));
      const snapshotAll = (): Record<string, Json> => {
        const snapshot: Record<string, Json> = {};
        for (const key of [...detectors.keys()].sort()) snapshot[key] = (detectors.get(key) as AnomalyDetector).snapshot();
        return snapshot;
      };
      const unbind = options.state?.bind(snapshotAll);
      const checkpointSub = options.checkpoint?.subscribe({
        next: () => subscriber.next({ kind: 'checkpoint', detectors: snapshotAll() }),
        error: (err: unknown) => subscriber.error(err),
      });
      const sub = source.subscribe({
        next: (event) => {
          const key = readKey(event, options.key);
          if (key instanceof ReadFailure) return subscriber.next(invalid(event, key));
          const value = readNumber(event, options.value);
          if (value instanceof ReadFailure) return subscriber.next(invalid(event, value));
          let time: number | undefined;
          if (options.eventTime) {
            const t = readTime(event, options.eventTime);
            if (t instanceof ReadFailure) return subscriber.next(invalid(event, t));
            time = t;
          }
          let detector = detectors.get(key);
          if (!detector) {
            detector = factory(key);
            detectors.set(key, detector);
          }
          // A combined detector's update leaves its component scores in `lastBreakdown` (a fresh object per update).
          const score = detector.update(value);
          const components: Readonly<Record<string, number>> = detector instanceof CombinedDetector ? detector.lastBreakdown : {};
          subscriber.next({ kind: 'score', event, key, value, time, score, components });
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        checkpointSub?.unsubscribe();
        unbind?.();
      };
    });
}

function invalid<E>(event: E, read: { reason: InvalidEvent<E>['reason']; detail?: string }): InvalidEvent<E> {
  return read.detail === undefined ? { kind: 'invalid', event, reason: read.reason } : { kind: 'invalid', event, reason: read.reason, detail: read.detail };
}

/** A scored point at or above the anomaly threshold. */
export interface AnomalyEvent<E> extends Omit<ScoredPoint<E>, 'kind'> {
  readonly kind: 'anomaly';
  readonly threshold: number;
}

/** What {@link anomalies} makes of each input kind. */
export type AnomaliesOutput<T> = T extends ScoredPoint<infer E> ? AnomalyEvent<E> : T;

/**
 * Keeps the scored points whose score is at least `threshold`, as `anomaly` events. Other kinds (the `invalid`
 * side output, checkpoints) pass through untouched so nothing is lost downstream.
 *
 * @example
 * scored$.pipe(anomalies(0.6)); // {kind:'anomaly', key, score, …} | {kind:'invalid', …}
 */
export function anomalies<T extends { readonly kind: string }>(threshold: number): OperatorFunction<T, AnomaliesOutput<T>> {
  requireOption(threshold >= 0 && threshold <= 1, `threshold must be in [0, 1], got ${threshold}`);
  return (source) =>
    new Observable<AnomaliesOutput<T>>((subscriber) =>
      source.subscribe({
        next: (item) => {
          if (item.kind !== 'score') return subscriber.next(item as AnomaliesOutput<T>);
          const point = item as unknown as ScoredPoint<unknown>;
          if (point.score >= threshold) subscriber.next({ ...point, kind: 'anomaly', threshold } as AnomaliesOutput<T>);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

/** An alert: the first anomaly of a key after a quiet period of at least `cooldownMs`. */
export interface AlertEvent<E> {
  readonly kind: 'alert';
  readonly key: string;
  /** The anomaly that opened the alert. */
  readonly anomaly: AnomalyEvent<E>;
  /** When it happened: the anomaly's event time, or the scheduler's clock when it has none. */
  readonly at: number;
  /** Anomalies of this key that were folded into the previous alert during its cooldown. */
  readonly suppressedBefore: number;
}

/** Options of {@link alerts}. */
export interface AlertsOptions {
  /** After an alert, further anomalies of the same key within this many ms are folded into it. */
  readonly cooldownMs: number;
  /**
   * `event`: measure the cooldown in event time (the anomaly's `time`; replays give the same alerts as live runs);
   * `processing`: in the scheduler's clock. Default `event`, falling back to `processing` for anomalies without time.
   */
  readonly clock?: 'event' | 'processing';
  /** Clock for `processing` time. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Checkpointable state (see `StateRegistry`): each key's last alert time and suppressed count. */
  readonly state?: StateSlot;
}

/** What {@link alerts} makes of each input kind. */
export type AlertsOutput<T> = T extends AnomalyEvent<infer E> ? AlertEvent<E> : T;

/**
 * Turns anomaly events into alerts with a per-key cooldown: an anomaly alerts only if its key has not alerted
 * within `cooldownMs`; the ones in between are counted (`suppressedBefore` of the next alert) instead of repeated.
 * Non-anomaly kinds pass through.
 *
 * @example
 * scored$.pipe(anomalies(0.6), alerts({ cooldownMs: 10 * 60_000 }));
 */
export function alerts<T extends { readonly kind: string }>(options: AlertsOptions): OperatorFunction<T, AlertsOutput<T>> {
  requireOption(Number.isFinite(options.cooldownMs) && options.cooldownMs >= 0, `cooldownMs must be ≥ 0, got ${options.cooldownMs}`);
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<AlertsOutput<T>>((subscriber) => {
      const last = new Map<string, { at: number; suppressed: number }>();
      const initial = options.state?.initial;
      if (initial !== undefined) {
        requireSnapshot(typeof initial === 'object' && initial !== null && !Array.isArray(initial), 'alerts snapshot must be an object');
        for (const [key, entry] of Object.entries(initial as Readonly<Record<string, Json>>)) {
          requireSnapshot(Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'number' && typeof entry[1] === 'number', `bad alerts snapshot entry for ${key}`);
          last.set(key, { at: entry[0], suppressed: entry[1] });
        }
      }
      const unbind = options.state?.bind(() => {
        const out: Record<string, Json> = {};
        for (const key of [...last.keys()].sort()) {
          const entry = last.get(key) as { at: number; suppressed: number };
          out[key] = [entry.at, entry.suppressed];
        }
        return out;
      });
      const sub = source.subscribe({
        next: (item) => {
          if (item.kind !== 'anomaly') return subscriber.next(item as AlertsOutput<T>);
          const anomaly = item as unknown as AnomalyEvent<unknown>;
          const at = options.clock !== 'processing' && anomaly.time !== undefined ? anomaly.time : scheduler.now();
          const previous = last.get(anomaly.key);
          if (previous && at - previous.at < options.cooldownMs) {
            previous.suppressed++;
            return;
          }
          last.set(anomaly.key, { at, suppressed: 0 });
          subscriber.next({ kind: 'alert', key: anomaly.key, anomaly, at, suppressedBefore: previous?.suppressed ?? 0 } as AlertsOutput<T>);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        unbind?.();
      };
    });
}
