/**
 * Numerical helpers for the detectors: tail probabilities of the standard normal computed in the log domain, so
 * that very large deviations still rank (a plain `1 - p` rounds to 1 beyond z ≈ 8).
 */

const LN10 = Math.LN10;

/**
 * Natural log of the complementary error function, `ln erfc(x)` for x ≥ 0, from the Chebyshev fit of Numerical
 * Recipes (`erfcc`), whose relative error stays below 1.2e-7 everywhere, so the log is good far into the tail.
 */
function logErfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -x * x -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) + poly;
}

/** `log10` of the two-sided tail probability P(|Z| ≥ |z|) of a standard normal. 0 for z = 0, very negative for large |z|. */
export function log10TwoSidedTail(z: number): number {
  if (!Number.isFinite(z)) return Number.isNaN(z) ? 0 : -Infinity;
  const a = Math.abs(z);
  return Math.min(0, logErfc(a / Math.SQRT2) / LN10);
}

/** `log10` of the one-sided upper tail probability P(Z ≥ z) of a standard normal. */
export function log10UpperTail(z: number): number {
  if (Number.isNaN(z)) return 0;
  if (z === Infinity) return -Infinity;
  if (z === -Infinity) return 0;
  if (z >= 0) return logErfc(z / Math.SQRT2) / LN10 - Math.log10(2);
  // P(Z ≥ z) = 1 - P(Z ≥ -z) for negative z.
  return Math.log10(1 - Math.pow(10, logErfc(-z / Math.SQRT2) / LN10 - Math.log10(2)));
}

/**
 * Maps a tail probability given as `log10 p` to a score in [0, 1] on a log scale: p = 1 → 0, p = 10^-`decades`
 * (or smaller) → 1. A score of 0.5 with the default 10 decades means "as rare as 1 in 100,000".
 */
export function surpriseScore(log10p: number, decades: number): number {
  if (Number.isNaN(log10p)) return 0;
  const s = -log10p / decades;
  return s <= 0 ? 0 : s >= 1 ? 1 : s;
}

/** Inverse of {@link surpriseScore}: the `log10 p` a score stands for. */
export function scoreToLog10p(score: number, decades: number): number {
  return -Math.min(1, Math.max(0, score)) * decades;
}

/** Clamp to [lo, hi]. */
export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/** Index of the first element of the ascending `sorted` that is ≥ `x`. */
export function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Median of an ascending array (NaN when empty). */
export function sortedMedian(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const mid = n >>> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Median absolute deviation of an ascending array around `m`, in O(log n) without a second sort or any allocation:
 * the distances `m - a[i]` left of the median (read right to left) and `a[i] - m` right of it are each ascending,
 * so the middle order statistic(s) of their union is found by a binary search over how many come from the left
 * run (the k-th smallest of two sorted sequences). Equal to taking the median of all the distances.
 */
export function sortedMad(sorted: readonly number[], m: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const split = lowerBound(sorted, m);
  // Left run: L(t) = m - sorted[split - 1 - t] for t < split; right run: R(t) = sorted[split + t] - m for
  // t < n - split; out of range, L and R are -Infinity below 0 and +Infinity past the end. (Inlined below: this
  // runs once per scored point, and a closure per call costs more than the search.)
  const nl = split;
  const nr = n - split;
  // The `take` smallest distances consist of the first `i` of the left run and the first `take - i` of the right.
  const take = (n >>> 1) + 1;
  let lo = Math.max(0, take - nr);
  let hi = Math.min(take, nl);
  while (lo < hi) {
    const i = (lo + hi) >>> 1;
    // L(i) < R(take - i - 1): the next left distance beats the last right one taken, so take more from the left
    const li = i >= nl ? Infinity : m - (sorted[split - 1 - i] as number);
    const r = take - i - 1;
    const rj = r < 0 ? -Infinity : r >= nr ? Infinity : (sorted[split + r] as number) - m;
    if (li < rj) lo = i + 1;
    else hi = i;
  }
  const i = lo;
  const j = take - i;
  const l1 = i - 1 < 0 ? -Infinity : m - (sorted[split - i] as number); // L(i - 1)
  const r1 = j - 1 < 0 ? -Infinity : (sorted[split + j - 1] as number) - m; // R(j - 1)
  // the largest of the `take` smallest: order statistic `take - 1` (0-based), the median for odd n
  const upper = l1 > r1 ? l1 : r1;
  if (n % 2 === 1) return upper;
  // even n: also order statistic `take - 2`, the largest of the taken ones after dropping `upper`
  let lower: number;
  if (l1 >= r1) {
    const l2 = i - 2 < 0 ? -Infinity : m - (sorted[split - i + 1] as number); // L(i - 2)
    lower = l2 > r1 ? l2 : r1;
  } else {
    const r2 = j - 2 < 0 ? -Infinity : (sorted[split + j - 2] as number) - m; // R(j - 2)
    lower = l1 > r2 ? l1 : r2;
  }
  return (lower + upper) / 2;
}
