import fc from 'fast-check';
import { Subject, type OperatorFunction } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { count, stats, sum } from './aggregates.ts';
import { alerts, anomalies, anomalyScores } from './anomaly.ts';
import { EwmaDetector } from './detectors.ts';
import { isOperatorError } from './errors.ts';
import { dedupeById, lateGate } from './helpers.ts';
import { StateRegistry } from './state.ts';
import type { Json } from './types.ts';
import { hopping, session, tumbling, windowAggregate, type WindowSpec } from './windows.ts';

interface Ev {
  readonly k: string;
  readonly t: number;
  readonly v: number;
  readonly id?: string;
}

/**
 * Runs `build` over `events`, checkpointing after `cut` elements into JSON (as a runtime would persist it), then
 * continues in a brand-new pipeline restored from that JSON. Returns everything emitted, before and after.
 */
function runWithRestart<O>(events: readonly Ev[], cut: number, build: (registry: StateRegistry) => OperatorFunction<Ev, O>): O[] {
  const out: O[] = [];
  const first = new StateRegistry();
  const in1 = new Subject<Ev>();
  const sub1 = in1.pipe(build(first)).subscribe((o) => out.push(o));
  for (const e of events.slice(0, cut)) in1.next(e);
  const saved = JSON.parse(JSON.stringify(first.snapshot())) as Record<string, Json>;
  sub1.unsubscribe(); // the crash: no completion, no flush
  const second = new StateRegistry(saved);
  const in2 = new Subject<Ev>();
  in2.pipe(build(second)).subscribe((o) => out.push(o));
  for (const e of events.slice(cut)) in2.next(e);
  in2.complete();
  return out;
}

function runStraight<O>(events: readonly Ev[], build: (registry: StateRegistry) => OperatorFunction<Ev, O>): O[] {
  const out: O[] = [];
  const input = new Subject<Ev>();
  input.pipe(build(new StateRegistry())).subscribe((o) => out.push(o));
  for (const e of events) input.next(e);
  input.complete();
  return out;
}

const specs: readonly WindowSpec[] = [tumbling(10), hopping(20, 5), session(7)];

describe('windowAggregate state', () => {
  it('a pipeline restored from a checkpoint at any point emits exactly what an uninterrupted one emits', () => {
    const event = fc.record({ k: fc.constantFrom('a', 'b', 'c'), t: fc.integer({ min: 0, max: 200 }), v: fc.integer({ min: -50, max: 50 }) });
    fc.assert(
      fc.property(
        fc.array(event, { minLength: 1, maxLength: 60 }),
        fc.nat(),
        fc.constantFrom(...specs),
        fc.constantFrom(0, 8),
        fc.constantFrom(0, 15),
        (events, cutSeed, window, bound, lateness) => {
          const cut = cutSeed % (events.length + 1);
          const build = (registry: StateRegistry): OperatorFunction<Ev, unknown> =>
            windowAggregate({
              window,
              key: (e: Ev) => e.k,
              eventTime: (e: Ev) => e.t,
              value: (e: Ev) => e.v,
              aggregate: stats(),
              maxOutOfOrdernessMs: bound,
              allowedLatenessMs: lateness,
              maxFutureMs: Infinity,
              emitWatermarks: true,
              state: registry.slot('w'),
            });
          expect(runWithRestart(events, cut, build)).toEqual(runStraight(events, build));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a snapshot taken with another window', () => {
    const registry = new StateRegistry();
    const input = new Subject<Ev>();
    const base = { key: (e: Ev) => e.k, eventTime: (e: Ev) => e.t, value: (e: Ev) => e.v, aggregate: sum(), maxFutureMs: Infinity };
    input.pipe(windowAggregate({ ...base, window: tumbling(10), state: registry.slot('w') })).subscribe();
    input.next({ k: 'a', t: 1, v: 1 });
    const saved = registry.snapshot();
    const other = new Subject<Ev>();
    const errors: unknown[] = [];
    try {
      other.pipe(windowAggregate({ ...base, window: tumbling(20), state: new StateRegistry(saved).slot('w') })).subscribe({ error: (e: unknown) => errors.push(e) });
    } catch (error) {
      errors.push(error);
    }
    expect(errors.some((e) => isOperatorError(e, 'invalid-snapshot'))).toBe(true);
  });

  it('previews open windows on a provisional notification without changing them', () => {
    const peek = new Subject<void>();
    const input = new Subject<Ev>();
    const out: unknown[] = [];
    input
      .pipe(
        windowAggregate({ window: tumbling(10), key: (e: Ev) => e.k, eventTime: (e: Ev) => e.t, value: (e: Ev) => e.v, aggregate: sum(), maxFutureMs: Infinity, provisional: peek }),
      )
      .subscribe((o) => out.push(o));
    input.next({ k: 'b', t: 3, v: 2 });
    input.next({ k: 'a', t: 4, v: 5 });
    peek.next();
    input.next({ k: 'a', t: 6, v: 1 });
    input.next({ k: 'a', t: 12, v: 1 });
    expect(out).toEqual([
      { kind: 'result', window: { key: 'a', start: 0, end: 10 }, value: 5, count: 1, final: false, updateCount: 0, trigger: 'idle', replaces: [], provisional: true },
      { kind: 'result', window: { key: 'b', start: 0, end: 10 }, value: 2, count: 1, final: false, updateCount: 0, trigger: 'idle', replaces: [], provisional: true },
      { kind: 'result', window: { key: 'a', start: 0, end: 10 }, value: 6, count: 2, final: true, updateCount: 0, trigger: 'watermark', replaces: [] },
      { kind: 'result', window: { key: 'b', start: 0, end: 10 }, value: 2, count: 1, final: true, updateCount: 0, trigger: 'watermark', replaces: [] },
    ]);
  });
});

describe('anomaly operators state', () => {
  it('scores, anomalies and alerts continue exactly after a restore', () => {
    const events: Ev[] = [];
    for (let i = 0; i < 400; i++) {
      for (const k of ['a', 'b']) {
        const spike = (k === 'a' && (i === 250 || i === 251 || i === 330)) || (k === 'b' && i === 300);
        events.push({ k, t: i * 1000, v: spike ? 500 : 10 + Math.sin(i / 5) * 3 + (i % 7) * 0.1 });
      }
    }
    const build = (registry: StateRegistry): OperatorFunction<Ev, unknown> => (source) =>
      source.pipe(
        anomalyScores({ key: (e: Ev) => e.k, value: (e: Ev) => e.v, eventTime: (e: Ev) => e.t, detector: () => new EwmaDetector(), state: registry.slot('scores') }),
        anomalies(0.5),
        alerts({ cooldownMs: 60_000, state: registry.slot('alerts') }),
      );
    const straight = runStraight(events, build);
    expect(straight.filter((o) => (o as { kind: string }).kind === 'alert').length).toBeGreaterThanOrEqual(2);
    for (const cut of [0, 1, 333, 501, 600, 661, 799, 800]) expect(runWithRestart(events, cut, build)).toEqual(straight);
  });
});

describe('dedupeById and lateGate state', () => {
  it('remember ids and the watermark across a restore', () => {
    const events: Ev[] = [
      { k: 'a', t: 100, v: 1, id: 'x' },
      { k: 'a', t: 50, v: 1, id: 'y' },
      { k: 'a', t: 120, v: 1, id: 'x' },
      { k: 'b', t: 20, v: 1, id: 'z' },
      { k: 'b', t: 200, v: 1, id: 'w' },
      { k: 'b', t: 170, v: 1, id: 'v' },
      { k: 'b', t: 130, v: 1, id: 'u' },
    ];
    const build = (registry: StateRegistry): OperatorFunction<Ev, unknown> => (source) =>
      source.pipe(
        dedupeById((e: Ev) => e.id ?? '', { maxIds: 100, state: registry.slot('dedupe') }),
        lateGate({ key: (e: Ev) => e.k, eventTime: (e: Ev) => e.t, maxOutOfOrdernessMs: 30, allowedLatenessMs: 10, state: registry.slot('gate') }),
      );
    const straight = runStraight(events, build);
    expect(straight.map((o) => ((o as { kind?: string }).kind === 'late' ? `late:${(o as { event: Ev }).event.id}` : (o as Ev).id))).toEqual([
      'x',
      'late:y',
      'late:z',
      'w',
      'v',
      'late:u',
    ]);
    for (let cut = 0; cut <= events.length; cut++) expect(runWithRestart(events, cut, build)).toEqual(straight);
  });

  it('StateRegistry refuses duplicate slot names and reports unbound slots by their initial state', () => {
    const registry = new StateRegistry({ a: 1 });
    registry.slot('a');
    expect(() => registry.slot('a')).toThrow(/exists already/);
    expect(registry.snapshot()).toEqual({ a: 1 });
    const input = new Subject<Ev>();
    const sub = input.pipe(windowAggregate({ window: tumbling(5), key: (e: Ev) => e.k, eventTime: (e: Ev) => e.t, value: (e: Ev) => e, aggregate: count(), maxFutureMs: Infinity, state: registry.slot('w') })).subscribe();
    expect(Object.keys(registry.snapshot())).toEqual(['a', 'w']);
    sub.unsubscribe();
    expect(Object.keys(registry.snapshot())).toEqual(['a']);
  });
});
