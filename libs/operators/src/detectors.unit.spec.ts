import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CombinedDetector,
  DEFAULT_DETECTOR_OPTIONS,
  EwmaDetector,
  MadDetector,
  SeasonalDetector,
  SurpriseLikelihood,
  restoreDetector,
  type AnomalyDetector,
} from './detectors.ts';
import { isOperatorError } from './errors.ts';
import { log10TwoSidedTail, sortedMad, sortedMedian, surpriseScore } from './stats-math.ts';
import type { Json } from './types.ts';

/** A deterministic noisy series: a small pseudo-random walk around `level`. */
function noisy(n: number, level = 100, amplitude = 2, seed = 7): number[] {
  let s = seed;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out.push(level + amplitude * ((s / 2147483648) * 2 - 1));
  }
  return out;
}

const feed = (d: AnomalyDetector, xs: readonly number[]): number[] => xs.map((x) => d.update(x));

describe('stats math', () => {
  it('gives normal tail probabilities, still ranking far into the tail', () => {
    expect(log10TwoSidedTail(0)).toBe(0);
    expect(log10TwoSidedTail(1.959964)).toBeCloseTo(Math.log10(0.05), 4);
    expect(log10TwoSidedTail(-3)).toBeCloseTo(Math.log10(0.0026998), 3);
    expect(log10TwoSidedTail(20)).toBeLessThan(log10TwoSidedTail(10));
    expect(Number.isFinite(log10TwoSidedTail(30))).toBe(true);
    expect(surpriseScore(-5, 10)).toBe(0.5);
    expect(surpriseScore(-50, 10)).toBe(1);
  });

  it('computes the MAD of a sorted array like the two-sort definition', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 1, maxLength: 40 }), (xs) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const m = sortedMedian(sorted);
        const deviations = sorted.map((x) => Math.abs(x - m)).sort((a, b) => a - b);
        expect(sortedMad(sorted, m)).toBe(sortedMedian(deviations));
      }),
    );
  });
});

describe.each([
  ['EwmaDetector', () => new EwmaDetector()],
  ['MadDetector', () => new MadDetector()],
  ['CombinedDetector (default)', () => new CombinedDetector()],
] as const)('%s', (_name, make) => {
  it('scores a spike far above the noise around it', () => {
    const d = make();
    const base = feed(d, noisy(600));
    const spike = d.update(160);
    expect(spike).toBeGreaterThan(0.5);
    expect(Math.max(...base.slice(300))).toBeLessThan(spike);
  });

  it('ignores non-finite values', () => {
    const d = make();
    feed(d, noisy(100));
    expect(d.update(Number.NaN)).toBe(0);
    expect(d.update(Infinity)).toBe(0);
  });

  it('continues identically after snapshot and restore through JSON text', () => {
    const d = make();
    const series = [...noisy(700), 150, ...noisy(100, 100, 2, 3), 40, ...noisy(50)];
    feed(d, series.slice(0, 650));
    const copy = restoreDetector(JSON.parse(JSON.stringify(d.snapshot())) as Json);
    expect(feed(copy, series.slice(650))).toEqual(feed(d, series.slice(650)));
  });
});

describe('EwmaDetector', () => {
  it('is robust: one spike barely moves its baseline', () => {
    const d = new EwmaDetector();
    feed(d, noisy(300));
    d.update(10_000);
    expect(d.zScore(100)).toBeLessThan(1);
  });

  it('scores nothing during warm-up', () => {
    const d = new EwmaDetector({ warmup: 10 });
    expect(feed(d, [1, 50, 1, 90, 1, 1, 1, 1, 1, 1])).toEqual(new Array(10).fill(0));
  });
});

describe('MadDetector', () => {
  it('stays calm while fewer than half the window are outliers', () => {
    const d = new MadDetector({ window: 100 });
    const xs = noisy(100).map((x, i) => (i % 5 === 0 ? x + 500 : x));
    feed(d, xs);
    expect(d.zScore(100)).toBeLessThan(2);
    expect(d.update(400)).toBeGreaterThan(0.5);
  });

  it('handles a flat line (MAD 0) without dividing by zero', () => {
    const d = new MadDetector({ window: 50 });
    feed(d, new Array<number>(50).fill(5));
    expect(d.update(5)).toBe(0);
    expect(d.update(6)).toBeGreaterThan(0.5);
  });
});

describe('SeasonalDetector', () => {
  it('compares each value with the same phase of earlier cycles', () => {
    const period = 24;
    const wave = (i: number): number => 10 * Math.sin((2 * Math.PI * i) / period) + (i % 3) * 0.1;
    const d = new SeasonalDetector({ period });
    const warm = Array.from({ length: period * 6 }, (_, i) => wave(i));
    feed(d, warm);
    const normal = d.update(wave(warm.length));
    // The peak value (10) at a trough phase: ordinary in level, wrong in phase.
    const wrongPhase = d.update(10);
    expect(normal).toBeLessThan(0.2);
    expect(wrongPhase).toBeGreaterThan(0.5);
    const copy = SeasonalDetector.restore(JSON.parse(JSON.stringify(d.snapshot())) as Json);
    expect(feed(copy, warm.slice(0, 30))).toEqual(feed(d, warm.slice(0, 30)));
  });
});

describe('SurpriseLikelihood', () => {
  it('finds a jolt rare on a quiet series and usual on a jumpy one', () => {
    const quiet = new SurpriseLikelihood();
    const jumpy = new SurpriseLikelihood();
    for (let i = 0; i < 400; i++) {
      quiet.update(0.1);
      jumpy.update(i % 4 === 0 ? 3 : 0.1);
    }
    expect(quiet.update(3)).toBeLessThan(jumpy.update(3));
  });
});

describe('CombinedDetector', () => {
  it('reports per-component scores', () => {
    const d = new CombinedDetector();
    feed(d, noisy(200));
    const detail = d.updateDetailed(150);
    expect(Object.keys(detail.components).sort()).toEqual(['ewma', 'mad']);
    expect(detail.components['ewma']).toBeGreaterThan(0.5);
  });

  it('suppresses the run of alarms after a peak', () => {
    const d = new CombinedDetector();
    feed(d, noisy(600));
    const scores = feed(d, [170, 168, 171]);
    expect(scores[0]).toBeGreaterThan(0);
    expect(scores.slice(1)).toEqual([0, 0]);
  });

  it('keeps every score in [0, 1] for any input', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double({ noNaN: false }), fc.integer()), { maxLength: 300 }), (xs) => {
        const d = new CombinedDetector({ ...DEFAULT_DETECTOR_OPTIONS, seasonal: { period: 7 } });
        for (const x of xs) {
          const s = d.update(x);
          expect(s >= 0 && s <= 1).toBe(true);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('rejects bad options and foreign snapshots with coded errors', () => {
    expect(() => new CombinedDetector({ ewma: false, mad: false })).toThrow(/at least one/);
    expect(() => new EwmaDetector({ alpha: 2 })).toThrow(/alpha/);
    try {
      restoreDetector({ kind: 'mystery', v: 1 });
      expect.unreachable();
    } catch (error) {
      expect(isOperatorError(error, 'invalid-snapshot')).toBe(true);
    }
    expect(() => MadDetector.restore(new EwmaDetector().snapshot())).toThrow(/not a mad snapshot/);
  });
});
