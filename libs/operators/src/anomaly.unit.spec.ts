import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { alerts, anomalies, anomalyScores, type AnomalyEvent, type ScoredPoint } from './anomaly.ts';
import { EwmaDetector } from './detectors.ts';

interface Reading {
  readonly sensor: string;
  readonly at: number;
  readonly celsius: unknown;
}

function readings(sensor: string, values: readonly number[], start = 0): Reading[] {
  return values.map((celsius, i) => ({ sensor, at: start + i * 1000, celsius }));
}

function wiggle(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 20 + Math.sin(i * 1.7) + (i % 3) * 0.3);
}

const accessors = { key: (r: Reading) => r.sensor, value: (r: Reading) => r.celsius as number, eventTime: (r: Reading) => r.at };

describe('anomalyScores', () => {
  it('scores each key with its own detector', async () => {
    const a = readings('a', [...wiggle(300), 60]);
    const b = readings('b', wiggle(301));
    const interleaved = a.flatMap((r, i) => [r, b[i] as Reading]);
    const out = await lastValueFrom(from(interleaved).pipe(anomalyScores(accessors), toArray()));
    const last = (sensor: string): ScoredPoint<Reading> =>
      out.filter((o): o is ScoredPoint<Reading> => o.kind === 'score' && o.key === sensor).at(-1) as ScoredPoint<Reading>;
    expect(last('a').score).toBeGreaterThan(0.5);
    expect(last('b').score).toBeLessThan(0.2);
    expect(last('a').time).toBe(300_000);
    expect(Object.keys(last('a').components).sort()).toEqual(['ewma', 'mad']);
  });

  it('routes unusable readings to the invalid side output without touching the detector', async () => {
    const bad: Reading[] = [
      { sensor: 'a', at: 1, celsius: 'hot' },
      { sensor: 'a', at: 2, celsius: undefined },
      { sensor: '', at: 3, celsius: 1 },
      { sensor: 'a', at: Number.NaN, celsius: 1 },
    ];
    const out = await lastValueFrom(from([...bad, ...readings('a', [1])]).pipe(anomalyScores(accessors), toArray()));
    expect(out.map((o) => (o.kind === 'invalid' ? o.reason : o.kind))).toEqual([
      'non-numeric-value',
      'missing-value',
      'missing-key',
      'invalid-event-time',
      'score',
    ]);
  });

  it('checkpoints detectors in-band and resumes from the checkpoint exactly', async () => {
    const series = readings('a', [...wiggle(200), 45, ...wiggle(50)]);
    const checkpoint = new Subject<void>();
    const first: unknown[] = [];
    const input = new Subject<Reading>();
    const sub = input.pipe(anomalyScores({ ...accessors, checkpoint, detector: () => new EwmaDetector() })).subscribe((o) => first.push(o));
    series.slice(0, 150).forEach((r) => input.next(r));
    checkpoint.next();
    series.slice(150).forEach((r) => input.next(r));
    sub.unsubscribe();
    const snap = first.find((o) => (o as { kind: string }).kind === 'checkpoint') as { detectors: Record<string, never> };
    expect(Object.keys(snap.detectors)).toEqual(['a']);

    const resumed = await lastValueFrom(
      from(series.slice(150)).pipe(anomalyScores({ ...accessors, restore: JSON.parse(JSON.stringify(snap.detectors)) as Record<string, never> }), toArray()),
    );
    const scoresAfter = (xs: unknown[]): number[] =>
      xs.filter((o): o is ScoredPoint<Reading> => (o as { kind: string }).kind === 'score').map((o) => o.score);
    expect(scoresAfter(resumed)).toEqual(scoresAfter(first).slice(150));
  });
});

describe('anomalies', () => {
  it('keeps points at or above the threshold and passes side outputs through', async () => {
    const point = (score: number): ScoredPoint<string> => ({ kind: 'score', event: 'e', key: 'k', value: 1, time: 0, score, components: {} });
    const invalid = { kind: 'invalid', event: 'x', reason: 'missing-key' } as const;
    const out = await lastValueFrom(from([point(0.2), point(0.7), invalid, point(0.6)]).pipe(anomalies(0.6), toArray()));
    expect(out.map((o) => (o.kind === 'anomaly' ? o.score : o.kind))).toEqual([0.7, 'invalid', 0.6]);
    expect(() => anomalies(2)).toThrow(/threshold/);
  });
});

describe('alerts', () => {
  const anomaly = (key: string, time: number | undefined): AnomalyEvent<string> => ({
    kind: 'anomaly',
    event: `${key}@${time}`,
    key,
    value: 1,
    time,
    score: 0.9,
    components: {},
    threshold: 0.5,
  });

  it('alerts once per key per cooldown (event time) and counts what it folded in', async () => {
    const input = [anomaly('a', 0), anomaly('b', 500), anomaly('a', 1000), anomaly('a', 9_999), anomaly('a', 10_000), anomaly('b', 2000)];
    const out = await lastValueFrom(from(input).pipe(alerts({ cooldownMs: 10_000 }), toArray()));
    expect(out.map((a) => (a.kind === 'alert' ? [a.key, a.at, a.suppressedBefore] : a))).toEqual([
      ['a', 0, 0],
      ['b', 500, 0],
      ['a', 10_000, 2],
    ]);
  });

  it('measures the cooldown on the scheduler clock for anomalies without event time', () => {
    new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run(({ cold, expectObservable }) => {
      const source = cold('a-b 10ms c|', { a: anomaly('k', undefined), b: anomaly('k', undefined), c: anomaly('k', undefined) });
      expectObservable(source.pipe(alerts({ cooldownMs: 5 }))).toBe('a-- 10ms c|', {
        a: { kind: 'alert', key: 'k', anomaly: anomaly('k', undefined), at: 0, suppressedBefore: 0 },
        c: { kind: 'alert', key: 'k', anomaly: anomaly('k', undefined), at: 13, suppressedBefore: 1 },
      });
    });
  });
});
