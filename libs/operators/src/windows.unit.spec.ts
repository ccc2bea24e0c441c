import fc from 'fast-check';
import { from, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { count, sum } from './aggregates.ts';
import { isOperatorError } from './errors.ts';
import {
  hopping,
  session,
  tumbling,
  windowAggregate,
  windowResults,
  type WindowAggregateOptions,
  type WindowOutput,
  type WindowRef,
  type WindowResult,
  type WindowTrigger,
} from './windows.ts';

interface Ev {
  readonly k: string;
  readonly t: number;
  readonly v: number;
  readonly p?: string;
}

const ev = (t: number, v: number, k = 'x', p?: string): Ev => (p === undefined ? { k, t, v } : { k, t, v, p });

function opts(over: Partial<WindowAggregateOptions<Ev, number, unknown, number>> = {}): WindowAggregateOptions<Ev, number, unknown, number> {
  return {
    window: tumbling(10),
    key: (e) => e.k,
    eventTime: (e) => e.t,
    value: (e) => e.v,
    aggregate: sum(),
    ...over,
  };
}

function res(
  start: number,
  end: number,
  value: number,
  more: { key?: string; count?: number; final?: boolean; updateCount?: number; trigger?: WindowTrigger; replaces?: WindowRef[] } = {},
): WindowResult<number> {
  return {
    kind: 'result',
    window: { key: more.key ?? 'x', start, end },
    value,
    count: more.count ?? 1,
    final: more.final ?? true,
    updateCount: more.updateCount ?? 0,
    trigger: more.trigger ?? 'watermark',
    replaces: more.replaces ?? [],
  };
}

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('tumbling windows', () => {
  it('fire when the watermark passes their end, and the source completing flushes the open ones', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('a-b-c-d|', { a: ev(1, 1), b: ev(5, 2), c: ev(10, 4), d: ev(25, 8) });
      expectObservable(source.pipe(windowAggregate(opts()))).toBe('----r-s(f|)', {
        r: res(0, 10, 3, { count: 2 }),
        s: res(10, 20, 4),
        f: res(20, 30, 8, { trigger: 'end-of-stream' }),
      });
    });
  });

  it('keep keys apart', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('abc---|', { a: ev(1, 1, 'x'), b: ev(2, 10, 'y'), c: ev(12, 100, 'x') });
      expectObservable(source.pipe(windowAggregate(opts()))).toBe('--(rs)(t|)', {
        r: res(0, 10, 1, { key: 'x' }),
        s: res(0, 10, 10, { key: 'y' }),
        t: res(10, 20, 100, { key: 'x', trigger: 'end-of-stream' }),
      });
    });
  });

  it('accept out-of-order events within the bound: the watermark trails the largest event time', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('a-b-c-d|', { a: ev(1, 1), b: ev(12, 2), c: ev(8, 4), d: ev(16, 8) });
      // bound 5: after b the watermark is 7, so c (t=8) is on time; d moves it to 11 and [0,10) fires.
      expectObservable(source.pipe(windowAggregate(opts({ maxOutOfOrdernessMs: 5 })))).toBe('------r(s|)', {
        r: res(0, 10, 5, { count: 2 }),
        s: res(10, 20, 10, { count: 2, trigger: 'end-of-stream' }),
      });
    });
  });

  it('emit watermark progress when asked', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('ab---|', { a: ev(4, 1), b: ev(14, 2) });
      expectObservable(source.pipe(windowAggregate(opts({ emitWatermarks: true, maxOutOfOrdernessMs: 2 })))).toBe('a(bc)(d|)', {
        a: { kind: 'watermark', watermark: 2, idle: false },
        b: { kind: 'watermark', watermark: 12, idle: false },
        c: res(0, 10, 1),
        d: res(10, 20, 2, { trigger: 'end-of-stream' }),
      });
    });
  });
});

describe('lateness', () => {
  it('routes events behind the watermark to the late side output when no lateness is allowed', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const late = ev(3, 5);
      const source = cold<Ev>('ab|', { a: ev(12, 1), b: late });
      expectObservable(source.pipe(windowAggregate(opts()))).toBe('-l(r|)', {
        l: { kind: 'late', event: late, key: 'x', eventTime: 3, watermark: 12, reason: 'beyond-allowed-lateness' },
        r: res(10, 20, 1, { trigger: 'end-of-stream' }),
      });
    });
  });

  it('updates a fired window for late events within the allowed lateness, then closes it for good', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const tooLate = ev(3, 100);
      const source = cold<Ev>('abcd---e|', { a: ev(1, 1), b: ev(12, 2), c: ev(5, 4), d: ev(21, 8), e: tooLate });
      expectObservable(source.pipe(windowAggregate(opts({ allowedLatenessMs: 10 })))).toBe('-ab(cd)e(fg|)', {
        a: res(0, 10, 1, { final: false }),
        b: res(0, 10, 5, { final: false, count: 2, updateCount: 1, trigger: 'late-event' }),
        c: res(10, 20, 2, { final: false }),
        d: res(0, 10, 5, { final: true, count: 2, updateCount: 1 }),
        e: { kind: 'late', event: tooLate, key: 'x', eventTime: 3, watermark: 21, reason: 'beyond-allowed-lateness' },
        f: res(10, 20, 2, { trigger: 'end-of-stream' }),
        g: res(20, 30, 8, { trigger: 'end-of-stream' }),
      });
    });
  });

  it('emits a window first created by a late event as an update', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('ab|', { a: ev(25, 1), b: ev(12, 2) });
      expectObservable(source.pipe(windowAggregate(opts({ allowedLatenessMs: 10 })))).toBe('-a(bc|)', {
        a: res(10, 20, 2, { final: false, updateCount: 1, trigger: 'late-event' }),
        b: res(10, 20, 2, { updateCount: 1, trigger: 'end-of-stream' }),
        c: res(20, 30, 1, { trigger: 'end-of-stream' }),
      });
    });
  });
});

describe('hopping windows', () => {
  it('put each event into every window that covers it', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('ab|', { a: ev(7, 1), b: ev(12, 2) });
      expectObservable(source.pipe(windowAggregate(opts({ window: hopping(10, 5) })))).toBe('-a(bc|)', {
        a: res(0, 10, 1),
        b: res(5, 15, 3, { count: 2, trigger: 'end-of-stream' }),
        c: res(10, 20, 2, { trigger: 'end-of-stream' }),
      });
    });
  });
});

describe('session windows', () => {
  it('close after the gap and open a new session for the next event', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('abc|', { a: ev(1, 1), b: ev(4, 2), c: ev(20, 4) });
      expectObservable(source.pipe(windowAggregate(opts({ window: session(5) })))).toBe('--r(s|)', {
        r: res(1, 9, 3, { count: 2 }),
        s: res(20, 25, 4, { trigger: 'end-of-stream' }),
      });
    });
  });

  it('merge two open sessions when an event bridges them', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('abc|', { a: ev(1, 1), b: ev(8, 2), c: ev(5, 4) });
      expectObservable(source.pipe(windowAggregate(opts({ window: session(5), maxOutOfOrdernessMs: 20 })))).toBe('---(r|)', {
        r: res(1, 13, 7, { count: 3, trigger: 'end-of-stream' }),
      });
    });
  });

  it('re-emit merged sessions for a late bridging event, listing the windows they replace', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('abcd|', { a: ev(1, 1), b: ev(8, 2), c: ev(20, 4), d: ev(5, 8) });
      const replaces = [
        { key: 'x', start: 1, end: 6 },
        { key: 'x', start: 8, end: 13 },
      ];
      expectObservable(source.pipe(windowAggregate(opts({ window: session(5), allowedLatenessMs: 100 })))).toBe('-abc(de|)', {
        a: res(1, 6, 1, { final: false }),
        b: res(8, 13, 2, { final: false }),
        c: res(1, 13, 11, { final: false, count: 3, updateCount: 1, trigger: 'late-event', replaces }),
        d: res(1, 13, 11, { count: 3, updateCount: 1, trigger: 'end-of-stream', replaces }),
        e: res(20, 25, 4, { trigger: 'end-of-stream' }),
      });
    });
  });
});

describe('idle timeout', () => {
  it('advances the watermark with processing time once the whole stream is quiet', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('a 20ms |', { a: ev(1, 1) });
      // Idle after 5 ms; from then the watermark is 1 + (now - 0), reaching the window end 10 at frame 9.
      expectObservable(source.pipe(windowAggregate(opts({ idleTimeoutMs: 5 })))).toBe('9ms r 11ms |', {
        r: res(0, 10, 1, { trigger: 'idle' }),
      });
    });
  });

  it('without it a quiet stream keeps its last window open until completion', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('a 20ms |', { a: ev(1, 1) });
      expectObservable(source.pipe(windowAggregate(opts()))).toBe('21ms (r|)', {
        r: res(0, 10, 1, { trigger: 'end-of-stream' }),
      });
    });
  });

  it('stops an idle partition from holding back the others', () => {
    const events = { a: ev(1, 1, 'x', 'p1'), b: ev(2, 2, 'x', 'p2'), c: ev(12, 4, 'x', 'p1'), d: ev(18, 8, 'x', 'p1'), e: ev(25, 16, 'x', 'p1') };
    const partition = (e: Ev): string => e.p ?? '';
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('ab-c--d-e|', events);
      expectObservable(source.pipe(windowAggregate(opts({ partition, idleTimeoutMs: 4 })))).toBe('-----r--s(t|)', {
        r: res(0, 10, 3, { count: 2, trigger: 'idle' }),
        s: res(10, 20, 12, { count: 2 }),
        t: res(20, 30, 16, { trigger: 'end-of-stream' }),
      });
    });
    newScheduler().run(({ cold, expectObservable }) => {
      const source = cold<Ev>('ab-c--d-e|', events);
      // p2 stays at t=2, so without an idle timeout nothing can fire before the end.
      expectObservable(source.pipe(windowAggregate(opts({ partition })))).toBe('---------(rst|)', {
        r: res(0, 10, 3, { count: 2, trigger: 'end-of-stream' }),
        s: res(10, 20, 12, { count: 2, trigger: 'end-of-stream' }),
        t: res(20, 30, 16, { trigger: 'end-of-stream' }),
      });
    });
  });
});

describe('invalid input', () => {
  it('goes to the invalid side output with a reason and does not stop the stream', async () => {
    const bad: unknown[] = [
      { t: 1, v: 1 },
      { k: '', t: 1, v: 1 },
      { k: 'x', t: Number.NaN, v: 1 },
      { k: 'x', t: 1, v: 'ten' },
      { k: 'x', t: 1 },
      { k: 'x', t: Date.now() + 10 * 86_400_000, v: 1 },
    ];
    const good = ev(2, 5);
    const out = await lastValueFrom(from([...bad, good] as Ev[]).pipe(windowAggregate(opts()), toArray()));
    expect(out.map((o) => (o.kind === 'invalid' ? o.reason : o.kind))).toEqual([
      'missing-key',
      'missing-key',
      'invalid-event-time',
      'non-numeric-value',
      'missing-value',
      'future-event-time',
      'result',
    ]);
  });

  it('reports a throwing accessor as accessor-failed', async () => {
    const out = await lastValueFrom(
      from([ev(1, 1)]).pipe(
        windowAggregate(
          opts({
            value: () => {
              throw new Error('boom');
            },
          }),
        ),
        toArray(),
      ),
    );
    expect(out).toEqual([{ kind: 'invalid', event: ev(1, 1), reason: 'accessor-failed', detail: 'boom' }]);
  });

  it('rejects impossible window options when the pipeline is built', () => {
    expect(() => tumbling(0)).toThrow(/sizeMs/);
    expect(() => hopping(10, 20)).toThrow(/slideMs/);
    try {
      windowAggregate(opts({ allowedLatenessMs: -1 }));
      expect.unreachable();
    } catch (error) {
      expect(isOperatorError(error, 'invalid-operator-option')).toBe(true);
    }
  });
});

describe('windowResults', () => {
  it('keeps final results only when asked', async () => {
    const out = await lastValueFrom(
      from([ev(1, 1), ev(12, 2), ev(5, 4)]).pipe(windowAggregate(opts({ allowedLatenessMs: 100 })), windowResults({ finalOnly: true }), toArray()),
    );
    expect(out.map((r) => [r.window.start, r.value])).toEqual([
      [0, 5],
      [10, 2],
    ]);
  });
});

describe('arrival order within the out-of-orderness bound', () => {
  const BOUND = 7;
  const eventArb = fc.record({ k: fc.constantFrom('a', 'b'), t: fc.integer({ min: 0, max: 200 }), v: fc.integer({ min: -50, max: 50 }) });
  const scenario = fc.array(fc.tuple(eventArb, fc.integer({ min: 0, max: BOUND })), { minLength: 1, maxLength: 60 });

  const run = async (events: readonly Ev[], window: WindowAggregateOptions<Ev, number, unknown, number>['window']): Promise<string[]> => {
    const out: WindowOutput<Ev, number>[] = await lastValueFrom(
      from(events).pipe(windowAggregate(opts({ window, maxOutOfOrdernessMs: BOUND })), toArray()),
    );
    expect(out.every((o) => o.kind === 'result' && o.final)).toBe(true);
    return out.map((o) => JSON.stringify(o.kind === 'result' ? [o.window, o.value, o.count] : o)).sort();
  };

  for (const [name, window] of [
    ['tumbling', tumbling(10)],
    ['hopping', hopping(20, 5)],
    ['session', session(6)],
  ] as const) {
    it(`does not change ${name} window results`, async () => {
      await fc.assert(
        fc.asyncProperty(scenario, async (pairs) => {
          const inTimeOrder = pairs.map(([e]) => e).sort((a, b) => a.t - b.t);
          // Each event is delayed by at most BOUND: arrival order is by t + delay.
          const arrival = pairs
            .map(([e, delay], i) => ({ e, at: e.t + delay, i }))
            .sort((a, b) => a.at - b.at || a.i - b.i)
            .map((x) => x.e);
          expect(await run(arrival, window)).toEqual(await run(inTimeOrder, window));
        }),
        { numRuns: 200 },
      );
    });
  }

  it('counts every event exactly once per covering window (count aggregate)', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (pairs) => {
        const events = pairs.map(([e]) => e);
        const out = await lastValueFrom(
          from(events).pipe(
            windowAggregate({ window: tumbling(10), key: (e: Ev) => e.k, eventTime: (e: Ev) => e.t, value: (e: Ev) => e, aggregate: count(), maxOutOfOrdernessMs: 1000 }),
            windowResults(),
            toArray(),
          ),
        );
        expect(out.reduce((n, r) => n + r.value, 0)).toBe(events.length);
      }),
    );
  });
});
