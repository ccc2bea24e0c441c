/**
 * Online anomaly detectors: plain classes with `update(x): score`, no RxJS, no clocks. Each keeps O(window) state,
 * scores a point from the points before it plus the point itself (causal), and can be snapshotted to JSON and
 * restored to continue exactly where it stopped.
 *
 * Every detector works internally with a tail probability `p` (how likely a deviation at least this large is under
 * the detector's model of "normal") and reports it on a log scale: `score = min(1, -log10(p) / decades)`.
 */
import { requireOption, requireSnapshot } from './errors.ts';
import type { Json } from './types.ts';
import { clamp, log10TwoSidedTail, log10UpperTail, lowerBound, sortedMad, sortedMedian, surpriseScore } from './stats-math.ts';

/** What every detector offers. */
export interface AnomalyDetector {
  /** Feeds the next value and returns its anomaly score in [0, 1]. Non-finite values are ignored and score 0. */
  update(x: number): number;
  /** `log10` of the tail probability of the last value fed (0 when it was unremarkable or during warm-up). */
  readonly lastLog10p: number;
  /** The detector's full state as JSON; `restore` on the same class continues exactly where this one stopped. */
  snapshot(): Json;
}

const DEFAULT_DECADES = 10;
/** Floor of reported log-probabilities: keeps infinite z (a jump off a flat line) finite and JSON-safe. */
const MIN_LOG10P = -1e6;

/** A JSON object snapshot with a kind tag and a version, as every detector writes. */
type SnapshotObject = { readonly [key: string]: Json };

function asObject(json: Json, kind: string): SnapshotObject {
  requireSnapshot(typeof json === 'object' && json !== null && !Array.isArray(json), `${kind} snapshot must be an object`);
  const o = json as SnapshotObject;
  requireSnapshot(o['kind'] === kind && o['v'] === 1, `not a ${kind} snapshot (kind ${JSON.stringify(o['kind'])}, version ${JSON.stringify(o['v'])})`);
  return o;
}

function num(o: SnapshotObject, field: string): number {
  const v = o[field];
  requireSnapshot(typeof v === 'number', `snapshot field ${field} must be a number`);
  return v;
}

function numOrNull(o: SnapshotObject, field: string): number | null {
  const v = o[field];
  requireSnapshot(v === null || typeof v === 'number', `snapshot field ${field} must be a number or null`);
  return v;
}

function numArray(o: SnapshotObject, field: string): number[] {
  const v = o[field];
  const list = Array.isArray(v) ? (v as readonly Json[]) : undefined;
  requireSnapshot(list !== undefined && list.every((x) => typeof x === 'number'), `snapshot field ${field} must be a number array`);
  return [...(list)];
}

function positiveInt(value: number, name: string): void {
  requireOption(Number.isInteger(value) && value > 0, `${name} must be a positive integer, got ${value}`);
}

// ---------------------------------------------------------------------------------------------------------------
// EWMA robust z-score
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link EwmaDetector}. */
export interface EwmaDetectorOptions {
  /** Smoothing factor of the exponentially weighted mean and variance, in (0, 1). Default 0.02 (~50-point memory). */
  readonly alpha?: number;
  /** Points before scoring starts; until then the stats are plain running averages. Default 30. */
  readonly warmup?: number;
  /**
   * Deviations are clipped to ±`clipZ` standard deviations before they update the mean and variance, so a
   * spike barely moves the baseline (a winsorised, i.e. robust, EWMA). Default 3.
   */
  readonly clipZ?: number;
  /** Lower bound of the standard deviation, relative to |mean|, so a flat line does not divide by ~0. Default 1e-3. */
  readonly minRelativeStd?: number;
  /** Decades of tail probability that map to score 1. Default 10. */
  readonly decades?: number;
}

/**
 * Robust z-score over an exponentially weighted mean and variance: z = (x − mean) / std with both statistics
 * updated from winsorised values, scored by the two-sided normal tail probability of z.
 *
 * @example
 * const d = new EwmaDetector({ alpha: 0.05 });
 * for (const x of [10, 11, 9, 10, 10, 11, 9, 10]) d.update(x);
 * d.update(40); // close to 1
 */
export class EwmaDetector implements AnomalyDetector {
  private readonly alpha: number;
  private readonly warmup: number;
  private readonly clipZ: number;
  private readonly minRelativeStd: number;
  private readonly decades: number;
  private n = 0;
  private mean = 0;
  private variance = 0;
  lastLog10p = 0;

  constructor(options: EwmaDetectorOptions = {}) {
    this.alpha = options.alpha ?? 0.02;
    this.warmup = options.warmup ?? 30;
    this.clipZ = options.clipZ ?? 3;
    this.minRelativeStd = options.minRelativeStd ?? 1e-3;
    this.decades = options.decades ?? DEFAULT_DECADES;
    requireOption(this.alpha > 0 && this.alpha < 1, `alpha must be in (0, 1), got ${this.alpha}`);
    requireOption(Number.isInteger(this.warmup) && this.warmup >= 1, `warmup must be an integer ≥ 1, got ${this.warmup}`);
    requireOption(this.clipZ > 0, `clipZ must be > 0, got ${this.clipZ}`);
    requireOption(this.minRelativeStd >= 0, `minRelativeStd must be ≥ 0, got ${this.minRelativeStd}`);
    requireOption(this.decades > 0, `decades must be > 0, got ${this.decades}`);
  }

  /** The current robust z of `x` against the baseline, without updating (0 during warm-up). */
  zScore(x: number): number {
    if (this.n < this.warmup) return 0;
    const std = this.std();
    const d = x - this.mean;
    if (std > 0) return d / std;
    return d === 0 ? 0 : d > 0 ? Infinity : -Infinity;
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return (this.lastLog10p = 0);
    const z = this.zScore(x);
    this.lastLog10p = this.n < this.warmup ? 0 : Math.max(MIN_LOG10P, log10TwoSidedTail(z));
    this.learn(x);
    return surpriseScore(this.lastLog10p, this.decades);
  }

  private std(): number {
    return Math.max(Math.sqrt(this.variance), this.minRelativeStd * Math.abs(this.mean), Number.MIN_VALUE);
  }

  private learn(x: number): void {
    this.n++;
    if (this.n === 1) {
      this.mean = x;
      this.variance = 0;
      return;
    }
    const a = Math.max(this.alpha, 1 / this.n);
    let d = x - this.mean;
    if (this.n > this.warmup) {
      const limit = this.clipZ * this.std();
      d = clamp(d, -limit, limit);
    }
    const inc = a * d;
    this.mean += inc;
    this.variance = (1 - a) * (this.variance + d * inc);
  }

  snapshot(): Json {
    return {
      kind: 'ewma',
      v: 1,
      options: { alpha: this.alpha, warmup: this.warmup, clipZ: this.clipZ, minRelativeStd: this.minRelativeStd, decades: this.decades },
      n: this.n,
      mean: this.mean,
      variance: this.variance,
      lastLog10p: this.lastLog10p,
    };
  }

  /** Rebuilds a detector from {@link EwmaDetector.snapshot}. */
  static restore(json: Json): EwmaDetector {
    const o = asObject(json, 'ewma');
    const d = new EwmaDetector(o['options'] as EwmaDetectorOptions);
    d.n = num(o, 'n');
    d.mean = num(o, 'mean');
    d.variance = num(o, 'variance');
    d.lastLog10p = num(o, 'lastLog10p');
    return d;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rolling median / MAD
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link MadDetector}. */
export interface MadDetectorOptions {
  /** Points in the rolling window the median and MAD are taken over. Default 150. */
  readonly window?: number;
  /** Points before scoring starts. Default 30. */
  readonly warmup?: number;
  /** Lower bound of the scale, relative to |median|, for windows with MAD 0 (flat lines). Default 1e-3. */
  readonly minRelativeScale?: number;
  /** Decades of tail probability that map to score 1. Default 10. */
  readonly decades?: number;
}

/** 1 / Φ⁻¹(3/4): makes the MAD of normal data an estimate of its standard deviation. */
const MAD_TO_STD = 1.4826;
/** √(π/2): makes the mean absolute deviation of normal data an estimate of its standard deviation. */
const MEAN_AD_TO_STD = 1.2533;

/**
 * Rolling median and median absolute deviation over the last `window` points: z = (x − median) / (1.4826·MAD),
 * scored by the two-sided normal tail probability. Breaks down only when half the window is anomalous.
 * When more than half the window is one value (MAD 0), the mean absolute deviation stands in for the scale.
 *
 * @example
 * const d = new MadDetector({ window: 100 });
 * for (let i = 0; i < 100; i++) d.update(i % 2);
 * d.update(25); // close to 1
 */
export class MadDetector implements AnomalyDetector {
  private readonly window: number;
  private readonly warmup: number;
  private readonly minRelativeScale: number;
  private readonly decades: number;
  /** Values in arrival order (a ring of at most `window`). */
  private ring: number[] = [];
  private head = 0;
  /** The same values, ascending. */
  private sorted: number[] = [];
  lastLog10p = 0;

  constructor(options: MadDetectorOptions = {}) {
    this.window = options.window ?? 150;
    this.warmup = options.warmup ?? 30;
    this.minRelativeScale = options.minRelativeScale ?? 1e-3;
    this.decades = options.decades ?? DEFAULT_DECADES;
    positiveInt(this.window, 'window');
    requireOption(Number.isInteger(this.warmup) && this.warmup >= 1 && this.warmup <= this.window, `warmup must be an integer in [1, window], got ${this.warmup}`);
    requireOption(this.minRelativeScale >= 0, `minRelativeScale must be ≥ 0, got ${this.minRelativeScale}`);
    requireOption(this.decades > 0, `decades must be > 0, got ${this.decades}`);
  }

  /** The robust z of `x` against the current window, without updating (0 during warm-up). */
  zScore(x: number): number {
    const n = this.sorted.length;
    if (n < this.warmup) return 0;
    const median = sortedMedian(this.sorted);
    let scale = MAD_TO_STD * sortedMad(this.sorted, median);
    if (scale === 0) {
      let sum = 0;
      for (const v of this.sorted) sum += Math.abs(v - median);
      scale = (MEAN_AD_TO_STD * sum) / n;
    }
    scale = Math.max(scale, this.minRelativeScale * Math.abs(median));
    const d = x - median;
    if (scale > 0) return d / scale;
    return d === 0 ? 0 : d > 0 ? Infinity : -Infinity;
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return (this.lastLog10p = 0);
    this.lastLog10p = this.sorted.length < this.warmup ? 0 : Math.max(MIN_LOG10P, log10TwoSidedTail(this.zScore(x)));
    this.push(x);
    return surpriseScore(this.lastLog10p, this.decades);
  }

  private push(x: number): void {
    if (this.ring.length < this.window) {
      this.ring.push(x);
      this.sorted.splice(lowerBound(this.sorted, x), 0, x);
      return;
    }
    const old = this.ring[this.head] as number;
    this.ring[this.head] = x;
    this.head = (this.head + 1) % this.window;
    // Replace `old` by `x` in the sorted values in one pass, moving the values in between by one slot: the same
    // array as removing one and inserting the other, without the two arrays `splice` returns per point.
    const sorted = this.sorted;
    let i = lowerBound(sorted, old);
    if (x > old) {
      while (i + 1 < sorted.length && (sorted[i + 1] as number) < x) {
        sorted[i] = sorted[i + 1] as number;
        i++;
      }
    } else {
      while (i > 0 && (sorted[i - 1] as number) > x) {
        sorted[i] = sorted[i - 1] as number;
        i--;
      }
    }
    sorted[i] = x;
  }

  snapshot(): Json {
    // Stored oldest first so restore does not depend on the ring's rotation.
    const ordered = [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
    return {
      kind: 'mad',
      v: 1,
      options: { window: this.window, warmup: this.warmup, minRelativeScale: this.minRelativeScale, decades: this.decades },
      values: ordered,
      lastLog10p: this.lastLog10p,
    };
  }

  /** Rebuilds a detector from {@link MadDetector.snapshot}. */
  static restore(json: Json): MadDetector {
    const o = asObject(json, 'mad');
    const d = new MadDetector(o['options'] as MadDetectorOptions);
    const values = numArray(o, 'values');
    requireSnapshot(values.length <= d.window, 'snapshot holds more values than the window');
    for (const v of values) d.push(v);
    d.lastLog10p = num(o, 'lastLog10p');
    return d;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Seasonal baseline
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link SeasonalDetector}. */
export interface SeasonalDetectorOptions {
  /** Points per season (e.g. 288 for a daily cycle sampled every 5 minutes). */
  readonly period: number;
  /** Smoothing of each phase's mean and variance across seasons, in (0, 1]. Default 0.3. */
  readonly alpha?: number;
  /** Seasons each phase must have seen before it scores. Default 2. */
  readonly warmupSeasons?: number;
  /** Deviations are clipped to ±`clipZ` std before they update a phase. Default 3. */
  readonly clipZ?: number;
  /** Lower bound of a phase's std, relative to its |mean|. Default 1e-2. */
  readonly minRelativeStd?: number;
  /** Decades of tail probability that map to score 1. Default 10. */
  readonly decades?: number;
}

/**
 * Seasonal baseline: one robust EWMA mean and variance per phase of a fixed period (point count), so a value is
 * compared with the same time of previous cycles. Needs a regular sampling interval.
 *
 * @example
 * const d = new SeasonalDetector({ period: 24 });
 * for (let i = 0; i < 24 * 5; i++) d.update(Math.sin((2 * Math.PI * i) / 24));
 * d.update(1); // phase 0 expects ~0: high score
 */
export class SeasonalDetector implements AnomalyDetector {
  private readonly period: number;
  private readonly alpha: number;
  private readonly warmupSeasons: number;
  private readonly clipZ: number;
  private readonly minRelativeStd: number;
  private readonly decades: number;
  private phase = 0;
  private counts: number[];
  private means: number[];
  private variances: number[];
  lastLog10p = 0;

  constructor(options: SeasonalDetectorOptions) {
    this.period = options.period;
    this.alpha = options.alpha ?? 0.3;
    this.warmupSeasons = options.warmupSeasons ?? 2;
    this.clipZ = options.clipZ ?? 3;
    this.minRelativeStd = options.minRelativeStd ?? 1e-2;
    this.decades = options.decades ?? DEFAULT_DECADES;
    positiveInt(this.period, 'period');
    requireOption(this.alpha > 0 && this.alpha <= 1, `alpha must be in (0, 1], got ${this.alpha}`);
    positiveInt(this.warmupSeasons, 'warmupSeasons');
    requireOption(this.clipZ > 0, `clipZ must be > 0, got ${this.clipZ}`);
    requireOption(this.decades > 0, `decades must be > 0, got ${this.decades}`);
    this.counts = new Array<number>(this.period).fill(0);
    this.means = new Array<number>(this.period).fill(0);
    this.variances = new Array<number>(this.period).fill(0);
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return (this.lastLog10p = 0);
    const i = this.phase;
    this.phase = (this.phase + 1) % this.period;
    const n = this.counts[i] as number;
    const mean = this.means[i] as number;
    const variance = this.variances[i] as number;
    const std = Math.max(Math.sqrt(variance), this.minRelativeStd * Math.abs(mean), Number.MIN_VALUE);
    let d = x - mean;
    this.lastLog10p = n < this.warmupSeasons ? 0 : Math.max(MIN_LOG10P, log10TwoSidedTail(d / std));
    if (n === 0) {
      this.means[i] = x;
    } else {
      const a = Math.max(this.alpha, 1 / (n + 1));
      if (n >= this.warmupSeasons) d = clamp(d, -this.clipZ * std, this.clipZ * std);
      const inc = a * d;
      this.means[i] = mean + inc;
      this.variances[i] = (1 - a) * (variance + d * inc);
    }
    this.counts[i] = n + 1;
    return surpriseScore(this.lastLog10p, this.decades);
  }

  snapshot(): Json {
    return {
      kind: 'seasonal',
      v: 1,
      options: {
        period: this.period,
        alpha: this.alpha,
        warmupSeasons: this.warmupSeasons,
        clipZ: this.clipZ,
        minRelativeStd: this.minRelativeStd,
        decades: this.decades,
      },
      phase: this.phase,
      counts: this.counts,
      means: this.means,
      variances: this.variances,
      lastLog10p: this.lastLog10p,
    };
  }

  /** Rebuilds a detector from {@link SeasonalDetector.snapshot}. */
  static restore(json: Json): SeasonalDetector {
    const o = asObject(json, 'seasonal');
    const d = new SeasonalDetector(o['options'] as unknown as SeasonalDetectorOptions);
    d.phase = num(o, 'phase');
    d.counts = numArray(o, 'counts');
    d.means = numArray(o, 'means');
    d.variances = numArray(o, 'variances');
    requireSnapshot([d.counts, d.means, d.variances].every((a) => a.length === d.period), 'per-phase arrays must have period entries');
    d.lastLog10p = num(o, 'lastLog10p');
    return d;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Anomaly likelihood (second stage)
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link SurpriseLikelihood}. */
export interface SurpriseLikelihoodOptions {
  /** Points averaged for the "recent" surprise. Default 2. */
  readonly shortWindow?: number;
  /** Points of surprise history the recent average is compared with. Default 500. */
  readonly longWindow?: number;
  /** Points of history needed before it scores. Default 100. */
  readonly warmup?: number;
  /** Lower bound of the history's standard deviation (in decades of surprise). Default 0.05. */
  readonly minStd?: number;
}

/**
 * Second-stage calibration (the idea of Numenta's "anomaly likelihood"): turns a stream of first-stage surprises
 * (−log10 p) into how unusual the *recent* surprise is compared with this series' own history of surprises.
 * A noisy series that is always a little surprising stops alarming; a quiet one alarms on its first jolt.
 * Returns `log10` of the upper-tail probability of the recent mean under a normal fit of the history.
 */
export class SurpriseLikelihood {
  private readonly shortWindow: number;
  private readonly longWindow: number;
  private readonly warmup: number;
  private readonly minStd: number;
  private history: number[] = [];
  private head = 0;
  private sum = 0;
  private sumSq = 0;
  private recent: number[] = [];
  private recentSum = 0;

  constructor(options: SurpriseLikelihoodOptions = {}) {
    this.shortWindow = options.shortWindow ?? 2;
    this.longWindow = options.longWindow ?? 500;
    this.warmup = options.warmup ?? 100;
    this.minStd = options.minStd ?? 0.05;
    positiveInt(this.shortWindow, 'shortWindow');
    positiveInt(this.longWindow, 'longWindow');
    requireOption(Number.isInteger(this.warmup) && this.warmup >= 1 && this.warmup <= this.longWindow, 'warmup must be an integer in [1, longWindow]');
    requireOption(this.minStd > 0, 'minStd must be > 0');
  }

  /** Feeds one first-stage surprise (−log10 p ≥ 0) and returns `log10` of the probability of a recent mean this high. */
  update(surprise: number): number {
    if (this.recent.length === this.shortWindow) this.recentSum -= this.recent.shift() as number;
    this.recent.push(surprise);
    this.recentSum += surprise;
    const recentMean = this.recentSum / this.recent.length;
    let result = 0;
    const n = this.history.length;
    if (n >= this.warmup) {
      const mean = this.sum / n;
      const std = Math.max(Math.sqrt(Math.max(0, this.sumSq / n - mean * mean)), this.minStd);
      result = log10UpperTail((recentMean - mean) / std);
    }
    this.remember(surprise);
    return result;
  }

  private remember(s: number): void {
    if (this.history.length < this.longWindow) {
      this.history.push(s);
    } else {
      const old = this.history[this.head] as number;
      this.history[this.head] = s;
      this.head = (this.head + 1) % this.longWindow;
      this.sum -= old;
      this.sumSq -= old * old;
    }
    this.sum += s;
    this.sumSq += s * s;
  }

  snapshot(): Json {
    return {
      kind: 'likelihood',
      v: 1,
      options: { shortWindow: this.shortWindow, longWindow: this.longWindow, warmup: this.warmup, minStd: this.minStd },
      history: [...this.history.slice(this.head), ...this.history.slice(0, this.head)],
      recent: [...this.recent],
      // The running sums carry their own rounding history; storing them keeps a restored stage bit-identical.
      sums: [this.sum, this.sumSq, this.recentSum],
    };
  }

  /** Rebuilds a stage from {@link SurpriseLikelihood.snapshot}. */
  static restore(json: Json): SurpriseLikelihood {
    const o = asObject(json, 'likelihood');
    const l = new SurpriseLikelihood(o['options'] as SurpriseLikelihoodOptions);
    for (const s of numArray(o, 'history')) l.remember(s);
    l.recent = numArray(o, 'recent');
    const sums = numArray(o, 'sums');
    requireSnapshot(sums.length === 3, 'likelihood snapshot sums must be [sum, sumSq, recentSum]');
    [l.sum, l.sumSq, l.recentSum] = sums as [number, number, number];
    requireSnapshot(l.recent.length <= l.shortWindow && l.history.length <= l.longWindow, 'snapshot windows larger than configured');
    return l;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Combined detector
// ---------------------------------------------------------------------------------------------------------------

/** How {@link CombinedDetector} fuses its components' tail probabilities. */
export type CombineMethod = 'max' | 'mean' | 'min';

/** Options of {@link CombinedDetector}. Every component can be switched off with `false`. */
export interface CombinedDetectorOptions {
  readonly ewma?: EwmaDetectorOptions | false;
  readonly mad?: MadDetectorOptions | false;
  readonly seasonal?: SeasonalDetectorOptions | false;
  /** `max`: the most surprised component wins; `mean`: average surprise; `min`: all must agree. Default `mean`. */
  readonly combine?: CombineMethod;
  /** Second-stage calibration of the fused surprise; `false` to report the fused tail probability itself. */
  readonly likelihood?: SurpriseLikelihoodOptions | false;
  /**
   * Peak suppression: a point keeps its score only if it exceeds every score of the previous `points` points,
   * otherwise it scores 0, so one incident yields one peak instead of a run of alarms, whatever threshold a
   * consumer applies later. `false` to switch off.
   */
  readonly suppression?: { readonly points: number } | false;
  /** Decades of tail probability that map to score 1. Default 10. */
  readonly decades?: number;
}

/**
 * The tuned default of {@link CombinedDetector}: one configuration for every series, chosen on the NAB corpus
 * (`npm run bench:nab`): mean of the EWMA and MAD surprises, recalibrated against the series' own recent
 * surprise history, with peak suppression.
 */
export const DEFAULT_DETECTOR_OPTIONS: CombinedDetectorOptions = {
  ewma: { alpha: 0.02, warmup: 30, clipZ: 3 },
  mad: { window: 150, warmup: 30 },
  seasonal: false,
  combine: 'mean',
  likelihood: { shortWindow: 2, longWindow: 500, warmup: 100, minStd: 0.05 },
  suppression: { points: 120 },
  decades: 10,
};

/** Per-component detail of one {@link CombinedDetector} update. */
export interface DetectorBreakdown {
  /** The final score in [0, 1]. */
  readonly score: number;
  /** Each enabled component's own score in [0, 1]. */
  readonly components: Readonly<Record<string, number>>;
}

/**
 * Runs several detectors side by side on the same series and fuses their tail probabilities into one score,
 * optionally recalibrated by a {@link SurpriseLikelihood} stage and de-duplicated by peak suppression.
 *
 * @example
 * const d = new CombinedDetector(); // DEFAULT_DETECTOR_OPTIONS
 * const scores = [1, 2, 1, 2, 1, 2, 50].map((x) => d.update(x));
 */
export class CombinedDetector implements AnomalyDetector {
  private readonly options: CombinedDetectorOptions;
  private readonly decades: number;
  private readonly components: [string, AnomalyDetector][] = [];
  private likelihood: SurpriseLikelihood | undefined;
  /** The pre-suppression scores of the last `suppression.points` points, oldest first (part of the snapshot). */
  private recentScores: number[] = [];
  /** Their maximum, maintained incrementally. */
  private recentPeak = new SlidingMax();
  lastLog10p = 0;
  private lastComponents: Record<string, number> = {};

  constructor(options: CombinedDetectorOptions = DEFAULT_DETECTOR_OPTIONS) {
    this.options = options;
    this.decades = options.decades ?? DEFAULT_DECADES;
    requireOption(this.decades > 0, `decades must be > 0, got ${this.decades}`);
    if (options.ewma !== false) this.components.push(['ewma', new EwmaDetector({ decades: this.decades, ...options.ewma })]);
    if (options.mad !== false) this.components.push(['mad', new MadDetector({ decades: this.decades, ...options.mad })]);
    if (options.seasonal !== undefined && options.seasonal !== false)
      this.components.push(['seasonal', new SeasonalDetector({ decades: this.decades, ...options.seasonal })]);
    requireOption(this.components.length > 0, 'CombinedDetector needs at least one component');
    if (options.likelihood !== undefined && options.likelihood !== false) this.likelihood = new SurpriseLikelihood(options.likelihood);
    const sup = options.suppression;
    if (sup !== undefined && sup !== false) positiveInt(sup.points, 'suppression.points');
  }

  /** Feeds the next value and returns its score; each component's score is then in {@link CombinedDetector.lastBreakdown}. */
  update(x: number): number {
    if (!Number.isFinite(x)) {
      this.lastLog10p = 0;
      return 0;
    }
    return this.step(x);
  }

  /** Like {@link CombinedDetector.update}, also returning each component's score. */
  updateDetailed(x: number): DetectorBreakdown {
    if (!Number.isFinite(x)) {
      this.lastLog10p = 0;
      return { score: 0, components: {} };
    }
    const score = this.step(x);
    return { score, components: this.lastComponents };
  }

  /** One update with a finite value: sets `lastLog10p` and `lastComponents` (a new object), returns the score. */
  private step(x: number): number {
    const components: Record<string, number> = {};
    // The fused log-probability, computed as `fuse` over the components in order (without an array per point).
    const combine = this.options.combine ?? 'mean';
    const count = this.components.length;
    const mean = count > 1 && combine === 'mean';
    let log10p = 0;
    for (let i = 0; i < count; i++) {
      const [name, detector] = this.components[i] as [string, AnomalyDetector];
      components[name] = detector.update(x);
      const l = detector.lastLog10p;
      if (mean) log10p += l;
      else if (i === 0) log10p = l;
      else log10p = combine === 'max' ? Math.min(log10p, l) : Math.max(log10p, l);
    }
    if (mean) log10p /= count;
    if (this.likelihood) log10p = Math.max(MIN_LOG10P, this.likelihood.update(-log10p));
    this.lastLog10p = log10p;
    let score = surpriseScore(log10p, this.decades);
    const sup = this.options.suppression;
    if (sup !== undefined && sup !== false) {
      // the largest of the previous `points` scores (0 when none), kept by a sliding maximum instead of a scan
      const peak = this.recentPeak.max();
      this.recentScores.push(score);
      if (this.recentScores.length > sup.points) this.recentScores.shift();
      this.recentPeak.push(score, sup.points);
      score = score > peak ? score : 0;
    }
    this.lastComponents = components;
    return score;
  }

  /** The component scores of the last update. */
  get lastBreakdown(): Readonly<Record<string, number>> {
    return this.lastComponents;
  }

  snapshot(): Json {
    return {
      kind: 'combined',
      v: 1,
      options: this.options as unknown as Json,
      components: Object.fromEntries(this.components.map(([name, d]) => [name, d.snapshot()])),
      likelihood: this.likelihood ? this.likelihood.snapshot() : null,
      recentScores: [...this.recentScores],
      lastLog10p: this.lastLog10p,
    };
  }

  /** Rebuilds a detector from {@link CombinedDetector.snapshot}. */
  static restore(json: Json): CombinedDetector {
    const o = asObject(json, 'combined');
    const d = new CombinedDetector(o['options'] as unknown as CombinedDetectorOptions);
    const comps = o['components'];
    requireSnapshot(typeof comps === 'object' && comps !== null && !Array.isArray(comps), 'components must be an object');
    const saved = comps as SnapshotObject;
    for (let i = 0; i < d.components.length; i++) {
      const [name] = d.components[i] as [string, AnomalyDetector];
      const snap = saved[name];
      requireSnapshot(snap !== undefined, `snapshot lacks component ${name}`);
      d.components[i] = [name, restoreComponent(name, snap)];
    }
    const lik = o['likelihood'];
    requireSnapshot((lik === null) === (d.likelihood === undefined), 'likelihood stage does not match the options');
    if (lik !== null && lik !== undefined) d.likelihood = SurpriseLikelihood.restore(lik);
    d.recentScores = numArray(o, 'recentScores');
    const points = d.options.suppression === undefined || d.options.suppression === false ? Infinity : d.options.suppression.points;
    for (const s of d.recentScores) d.recentPeak.push(s, points);
    d.lastLog10p = numOrNull(o, 'lastLog10p') ?? 0;
    return d;
  }
}

function restoreComponent(name: string, json: Json): AnomalyDetector {
  switch (name) {
    case 'ewma':
      return EwmaDetector.restore(json);
    case 'mad':
      return MadDetector.restore(json);
    default:
      return SeasonalDetector.restore(json);
  }
}

/**
 * The maximum of the last `window` values pushed (0 when there are none, or when all are ≤ 0) in amortised O(1)
 * per push: a deque of candidates whose values decrease from front to back, each dropped once a later value is at
 * least as large (it can never be the maximum again) or once it leaves the window.
 */
class SlidingMax {
  private values: number[] = [];
  private positions: number[] = [];
  private head = 0;
  private pushed = 0;

  max(): number {
    const v = this.head < this.values.length ? (this.values[this.head] as number) : 0;
    return v > 0 ? v : 0;
  }

  push(x: number, window: number): void {
    while (this.values.length > this.head && (this.values[this.values.length - 1] as number) <= x) {
      this.values.pop();
      this.positions.pop();
    }
    this.values.push(x);
    this.positions.push(this.pushed++);
    while ((this.positions[this.head] as number) < this.pushed - window) this.head++;
    if (this.head >= 256 && this.head * 2 >= this.values.length) {
      this.values = this.values.slice(this.head);
      this.positions = this.positions.slice(this.head);
      this.head = 0;
    }
  }
}

/** Restores any detector of this module from its snapshot, dispatching on the snapshot's `kind`. */
export function restoreDetector(json: Json): AnomalyDetector {
  const kind = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as SnapshotObject)['kind'] : undefined;
  switch (kind) {
    case 'ewma':
      return EwmaDetector.restore(json);
    case 'mad':
      return MadDetector.restore(json);
    case 'seasonal':
      return SeasonalDetector.restore(json);
    case 'combined':
      return CombinedDetector.restore(json);
    default:
      requireSnapshot(false, `unknown detector snapshot kind ${JSON.stringify(kind) ?? 'undefined'}`);
  }
}
