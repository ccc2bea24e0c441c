import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DerivedEventType, WindowResultSchema, type EventEnvelope, type WindowResultData } from '@tideway/events';
import { replayPipeline, stopReplayEngineThread, type EngineOutput } from '@tideway/pipeline';
import { sensorFixture, sensorPipelineFixture, type FixtureMessage } from '@tideway/pipeline/internal';
import { createTestbed, derivedById, differences, sideOutputs, type Testbed } from './testbed.ts';

/**
 * One processor (N=1) and three replicas (N=3) over the same input, each in its own namespace; then the bounded
 * replay of the same range, compared with the live run.
 */
describe('processor: replicas, replay and bad input', () => {
  let one: Testbed;
  let three: Testbed;
  let fixture: FixtureMessage[];
  let lastSeq: number;

  beforeAll(async () => {
    [one, three] = await Promise.all([createTestbed(sensorPipelineFixture), createTestbed(sensorPipelineFixture)]);
    fixture = sensorFixture({ scheme: one.scheme, devices: 12, readings: 220, seed: 11 });
    lastSeq = await one.publish(fixture);
    expect(await three.publish(fixture)).toBe(lastSeq);
  });
  afterAll(async () => {
    await one?.[Symbol.asyncDispose]();
    await three?.[Symbol.asyncDispose]();
  });

  it('N=1 and N=3 replicas publish identical derived events, quarantine and late streams', async () => {
    const single = await one.start();
    const replicas = await Promise.all([0, 1, 2].map((r) => three.start({ PROCESSOR_REPLICA: `processor-${r}`, PROCESSOR_REPLICAS: '3' })));
    try {
      expect(replicas.map((r) => r.partitions)).toEqual([
        [0, 3, 6],
        [1, 4, 7],
        [2, 5],
      ]);
      expect(single.partitions).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      await Promise.all([one.caughtUp(), three.caughtUp()]);
    } finally {
      await Promise.all([single, ...replicas].map((p) => p.close()));
    }

    const a = await one.read('DERIVED');
    const b = await three.read('DERIVED');
    const byIdA = derivedById(a);
    expect(byIdA.size).toBe(a.length); // nothing stored twice
    expect(differences(derivedById(b), byIdA)).toEqual([]);
    const types = [...byIdA.values()].map((d) => (JSON.parse(d) as EventEnvelope).type);
    expect(types.filter((t) => t === DerivedEventType.WindowResult).length).toBeGreaterThan(100);
    expect(types.filter((t) => t === DerivedEventType.AnomalyDetected).length).toBeGreaterThan(0);
    expect(types.filter((t) => t === DerivedEventType.AlertRaised).length).toBeGreaterThan(0);

    expect(sideOutputs(await three.read('QUARANTINE'))).toEqual(sideOutputs(await one.read('QUARANTINE')));
    expect(sideOutputs(await three.read('LATE'))).toEqual(sideOutputs(await one.read('LATE')));
  });

  it('routes every bad input with its reason to QUARANTINE or LATE, counts it, and keeps running', async () => {
    const quarantine = await one.read('QUARANTINE');
    const late = await one.read('LATE');
    const reasonsOf = (label: FixtureMessage['label']): Set<string> => {
      const seqs = new Set(fixture.flatMap((m, i) => (m.label === label ? [String(i + 1)] : [])));
      return new Set([...quarantine, ...late].filter((m) => seqs.has(m.headers['Tideway-Origin-Seq']!)).map((m) => m.headers['Tideway-Reason']!));
    };
    expect(reasonsOf('non-numeric')).toEqual(new Set(['non-numeric-value']));
    expect(reasonsOf('missing-value')).toEqual(new Set(['missing-value']));
    expect(reasonsOf('missing-key')).toEqual(new Set(['missing-key']));
    expect(reasonsOf('future')).toEqual(new Set(['future-event-time']));
    expect(reasonsOf('schema')).toEqual(new Set(['unexpected-schema-version']));
    expect(reasonsOf('malformed')).toEqual(new Set(['malformed-event']));
    expect(reasonsOf('late')).toEqual(new Set(['beyond-allowed-lateness', 'before-watermark-horizon']));
    for (const m of quarantine) expect(m.subject).toBe(`${one.scheme.root}.quarantine.acme.pipeline-${one.spec.name}`);
    for (const m of late) expect(m.subject).toMatch(new RegExp(`^${one.scheme.root}\\.late\\.acme\\.\\d+\\.iot\\.sensor\\.reading$`));

    // the processor is still ready, and its metrics count the rejects by reason
    const processor = await one.start();
    try {
      const base = `http://127.0.0.1:${processor.port}`;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const extra = await one.publish(sensorFixture({ scheme: one.scheme, devices: 3, readings: 150, seed: 99, start: Date.UTC(2026, 0, 6), idPrefix: 'extra-' }));
      expect(extra).toBeGreaterThan(lastSeq);
      await one.caughtUp();
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/tideway_processor_rejected_total\{[^}]*reason="non-numeric-value"[^}]*\} [1-9]/);
      expect(metrics).toMatch(/tideway_processor_messages_total\{[^}]*pipeline="sensor-readings"[^}]*\} [1-9]/);
      const status = (await (await fetch(`${base}/v1/pipelines`)).json()) as { pipelines: { partitions: { state: string; checkpointSeq: number }[] }[] };
      expect(status.pipelines[0]!.partitions.every((p) => p.state === 'running')).toBe(true);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    } finally {
      await processor.close();
    }
  });

  it('a bounded replay of the same range emits what the live run did, then flushes the windows still open', async () => {
    await one.caughtUp();
    const live = derivedById(await one.read('DERIVED'));
    const end = (await one.jsm.streams.info(one.stream('EVENTS'))).state.last_seq;
    const outputs: EngineOutput[] = [];
    const report = await replayPipeline({ nc: one.nc, stream: one.stream('EVENTS'), scheme: one.scheme, spec: one.spec, from: { seq: 1 }, to: { seq: end }, onOutput: (o) => void outputs.push(o) });
    const derived = outputs.filter((o) => o.kind === 'derived');
    const flushed = derived.filter((o) => (o.event.data as WindowResultData).trigger === 'end-of-stream');
    const ordinary = derived.filter((o) => !flushed.includes(o));
    expect(differences(new Map(ordinary.map((o) => [o.event.id, JSON.stringify(o.event)] as const)), live)).toEqual([]);
    expect(flushed.length).toBeGreaterThan(0);
    for (const o of flushed) expect(live.has(o.event.id)).toBe(false); // still open in the live run
    expect(report.totals.windowResults).toBe(derived.filter((o) => o.type === DerivedEventType.WindowResult).length);
    expect(report.totals.messages).toBe(end);
    expect(report.range).toEqual({ fromSeq: 1, toSeq: end });

    // some partitions (read through one consumer and picked out by subject), or one (its own filter), replay to
    // exactly those partitions' outputs of the whole replay, in the same order
    for (const some of [[1, 4, 5], [5]]) {
      const subset: EngineOutput[] = [];
      const part = await replayPipeline({ nc: one.nc, stream: one.stream('EVENTS'), scheme: one.scheme, spec: one.spec, partitions: some, onOutput: (o) => void subset.push(o) });
      expect(subset.length).toBeGreaterThan(0);
      expect(subset).toEqual(outputs.filter((o) => some.includes(o.partition)));
      expect(part.partitions.map((p) => p.partition)).toEqual(some);
    }

    // a prefix of the stream replays to exactly what the live run emitted while processing that prefix
    const cut = Math.floor(end * 0.6);
    const prefix: EngineOutput[] = [];
    const partial = await replayPipeline({ nc: one.nc, stream: one.stream('EVENTS'), scheme: one.scheme, spec: one.spec, to: { seq: cut }, flush: false, onOutput: (o) => void prefix.push(o) });
    expect(partial.totals.messages).toBe(cut);
    const expected = [...live.values()].filter((d) => (JSON.parse(d) as { data: { lineage: { emittedAtSeq: number } } }).data.lineage.emittedAtSeq <= cut).sort();
    expect(prefix.flatMap((o) => (o.kind === 'derived' ? [JSON.stringify(o.event)] : [])).sort()).toEqual(expected);

    // a time range selects by recordedtime (when the gateway received each event), like `tideway replay`
    const recorded = fixture.map((m) => {
      try {
        return Date.parse((JSON.parse(new TextDecoder().decode(m.payload)) as { recordedtime: string }).recordedtime);
      } catch {
        return NaN;
      }
    });
    const [t1, t2] = [recorded.slice(300).find(Number.isFinite)!, recorded.slice(900).find(Number.isFinite)!];
    const timed = await replayPipeline({ nc: one.nc, stream: one.stream('EVENTS'), scheme: one.scheme, spec: one.spec, from: { time: new Date(t1) }, to: { time: new Date(t2) } });
    expect(timed.totals.messages).toBe(recorded.filter((t) => t >= t1 && t <= t2).length);
    expect(timed.totals.messages).toBeGreaterThan(500);

    // other event types on the same partitions (a minority, so the replay reads the stream unfiltered and picks its
    // source out by subject, a type that merely ends like the source's included) change nothing
    const foreign = fixture.slice(0, 300).map((m, i) => ({
      ...m,
      subject: m.subject.replace(/\.iot\.sensor\.reading$/, i % 2 ? '.iot.sensor.other' : '.x.iot.sensor.reading'),
      msgId: `foreign-${m.msgId}`,
    }));
    expect(foreign.every((m, i) => m.subject !== fixture[i]!.subject)).toBe(true);
    const foreignEnd = await one.publish(foreign);
    const again: EngineOutput[] = [];
    const mixed = await replayPipeline({ nc: one.nc, stream: one.stream('EVENTS'), scheme: one.scheme, spec: one.spec, onOutput: (o) => void again.push(o) });
    expect(again).toEqual(outputs);
    expect(mixed.totals.messages).toBe(end);
    expect(mixed.range).toEqual({ fromSeq: 1, toSeq: end });
    expect(foreignEnd).toBe(end + foreign.length);

    // an asynchronous sink that yields on every output, with small pulls: the read queues what arrives meanwhile,
    // closes its consumer once a pull's worth waits and reopens it after the last message it received; the
    // outputs are the same, in the same order
    const paced: EngineOutput[] = [];
    const slow = await replayPipeline({
      nc: one.nc,
      stream: one.stream('EVENTS'),
      scheme: one.scheme,
      spec: one.spec,
      fetchBatch: 64,
      onOutput: async (o) => {
        paced.push(o);
        await new Promise(setImmediate);
      },
    });
    expect(paced).toEqual(outputs);
    expect(slow.totals).toEqual(mixed.totals);

    // the engines on a second thread (forced here: replays this small run on one by default) emit the same outputs
    // in the same order and report the same counts: the whole range, some partitions, a prefix without the flush,
    // and behind an asynchronous sink with small pulls
    const base = { nc: one.nc, stream: one.stream('EVENTS'), scheme: one.scheme, spec: one.spec, engineThread: true };
    const threaded: EngineOutput[] = [];
    const onThread = await replayPipeline({ ...base, onOutput: (o) => void threaded.push(o) });
    expect(threaded).toEqual(outputs);
    expect(onThread.partitions).toEqual(mixed.partitions);
    expect(onThread.range).toEqual(mixed.range);
    const someThreaded: EngineOutput[] = [];
    const someOnThread = await replayPipeline({ ...base, partitions: [1, 4, 5, 4], onOutput: (o) => void someThreaded.push(o) });
    expect(someThreaded).toEqual(outputs.filter((o) => [1, 4, 5].includes(o.partition)));
    expect(someOnThread.partitions.map((p) => p.partition)).toEqual([1, 4, 5, 4]);
    expect(someOnThread.partitions[3]).toEqual(someOnThread.partitions[1]);
    const prefixThreaded: EngineOutput[] = [];
    await replayPipeline({ ...base, to: { seq: cut }, flush: false, onOutput: (o) => void prefixThreaded.push(o) });
    expect(prefixThreaded).toEqual(prefix);
    const pacedThreaded: EngineOutput[] = [];
    await replayPipeline({
      ...base,
      fetchBatch: 64,
      onOutput: async (o) => {
        pacedThreaded.push(o);
        await new Promise(setImmediate);
      },
    });
    expect(pacedThreaded).toEqual(outputs);
    // a sink that throws fails the replay with its error, on either thread
    for (const engineThread of [false, true]) {
      const broken = replayPipeline({ ...base, engineThread, onOutput: () => { throw new Error('the sink broke'); } });
      await expect(broken).rejects.toThrow('the sink broke');
    }
    // losing the engine thread mid-replay (here while the first outputs are being handed over) fails the replay
    // with an error that says so, rather than leaving it waiting; the next replay starts a new thread
    const lostThread = replayPipeline({
      ...base,
      onOutput: async () => {
        await stopReplayEngineThread();
      },
    });
    await expect(lostThread).rejects.toThrow("the replay's engine thread exited");
    const afterLoss: EngineOutput[] = [];
    await replayPipeline({ ...base, onOutput: (o) => void afterLoss.push(o) });
    expect(afterLoss).toEqual(outputs);

    // once event time moves on, the live run closes the flushed windows with the same contents
    const closing = sensorFixture({ scheme: one.scheme, devices: 12, readings: 1, seed: 5, bad: false, start: Date.UTC(2026, 0, 7), idPrefix: 'closing-' });
    await one.publish(closing);
    const processor = await one.start();
    try {
      await one.caughtUp();
    } finally {
      await processor.close();
    }
    const after = derivedById(await one.read('DERIVED'));
    for (const o of flushed) {
      const closed = after.get(o.event.id);
      expect(closed, `window ${o.event.id} closed live`).toBeDefined();
      const a = WindowResultSchema.parse((JSON.parse(closed!) as EventEnvelope).data);
      const b = WindowResultSchema.parse(o.event.data);
      expect({ ...a, trigger: 'x', lineage: { ...a.lineage, emittedAtSeq: 0 } }).toEqual({ ...b, trigger: 'x', lineage: { ...b.lineage, emittedAtSeq: 0 } });
    }
  });
});
