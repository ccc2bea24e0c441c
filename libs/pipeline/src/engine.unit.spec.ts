import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEventSubject, WindowResultSchema, AnomalyDetectedSchema, AlertRaisedSchema, EventEnvelopeSchema } from '@tideway/events';
import { PipelineEngine, type EngineCheckpoint, type EngineOutput, type SourceMessage } from './engine.ts';
import { isPipelineError } from './errors.ts';
import { sensorFixture, sensorPipelineFixture } from './fixtures.ts';
import { parsePipelineSpec } from './spec.ts';

const scheme = { root: 'tw', partitions: 4 };
const spec = parsePipelineSpec(sensorPipelineFixture);
const fixture = sensorFixture({ scheme, devices: 10, readings: 260 });
const t0 = Date.UTC(2026, 0, 5, 8, 0, 0);
const messages: SourceMessage[] = fixture.map((m, i) => ({ seq: i + 1, subject: m.subject, data: m.payload, storedAt: t0 + i * 500 + 200 }));
const byPartition = (p: number): SourceMessage[] => messages.filter((m) => parseEventSubject(scheme, m.subject)?.partition === p);

/** A stable identity for every output: derived events by id, side outputs by stage and input position. */
function identity(o: EngineOutput): string {
  return o.kind === 'derived' ? `derived:${o.event.id}` : `${o.kind}:${o.stage}:${o.seq}`;
}
function comparable(o: EngineOutput): unknown {
  return o.kind === 'derived' ? o.event : { ...o, data: Buffer.from(o.data).toString('base64') };
}

function straight(partition: number, flush = true): EngineOutput[] {
  const engine = new PipelineEngine(spec, { scheme, partition });
  const out = byPartition(partition).flatMap((m) => engine.process(m));
  return flush ? [...out, ...engine.flush()] : out;
}

describe('PipelineEngine', () => {
  it('turns a partition into window results, anomalies, alerts and side outputs that match their schemas', () => {
    const all = [0, 1, 2, 3].flatMap((p) => straight(p));
    const derived = all.filter((o) => o.kind === 'derived');
    const windows = derived.filter((o) => o.type === 'tideway.window.result');
    const anomalies = derived.filter((o) => o.type === 'tideway.anomaly.detected');
    const alerts = derived.filter((o) => o.type === 'tideway.alert.raised');
    expect(windows.length).toBeGreaterThan(40);
    expect(anomalies.length).toBeGreaterThan(0);
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.length).toBeLessThanOrEqual(anomalies.length);
    for (const o of derived) {
      expect(EventEnvelopeSchema.safeParse(o.event).success).toBe(true);
      const schema = { 'tideway.window.result': WindowResultSchema, 'tideway.anomaly.detected': AnomalyDetectedSchema, 'tideway.alert.raised': AlertRaisedSchema }[o.type];
      expect(schema.safeParse(o.event.data).error).toBeUndefined();
    }
    // every window holds exactly the readings of its device and minute that were neither late nor invalid
    const w = windows[0]!.event.data as { key: string; count: number; lineage: { firstSeq: number; lastSeq: number } };
    expect(w.count).toBeGreaterThan(0);
    expect(w.lineage.firstSeq).toBeLessThanOrEqual(w.lineage.lastSeq);

    const reasons = new Set(all.flatMap((o) => (o.kind === 'derived' ? [] : [`${o.kind}:${o.reason}`])));
    for (const r of [
      'invalid:non-numeric-value',
      'invalid:missing-value',
      'invalid:missing-key',
      'invalid:future-event-time',
      'invalid:unexpected-schema-version',
      'invalid:malformed-event',
      'late:beyond-allowed-lateness',
      'late:before-watermark-horizon',
    ]) {
      expect(reasons, r).toContain(r);
    }
    // every bad input of the fixture was routed, none went silently missing
    const rejectedSeqs = new Set(all.flatMap((o) => (o.kind === 'derived' ? [] : [o.seq])));
    fixture.forEach((m, i) => {
      if (['non-numeric', 'missing-value', 'missing-key', 'future', 'schema', 'late', 'malformed'].includes(m.label)) expect(rejectedSeqs, `${m.label} at ${i + 1}`).toContain(i + 1);
    });
  });

  it('drops duplicates of an input (same tenant, source and id) and counts them', () => {
    const engines = [0, 1, 2, 3].map((partition) => new PipelineEngine(spec, { scheme, partition }));
    for (const m of messages) engines[parseEventSubject(scheme, m.subject)!.partition]!.process(m);
    const duplicates = engines.reduce((n, e) => n + e.counters.duplicates, 0);
    expect(duplicates).toBe(fixture.filter((m) => m.label === 'duplicate').length);
    expect(duplicates).toBeGreaterThan(0);
  });

  it('restarted from its last checkpoint after a crash at any point, emits exactly what an uninterrupted run emits', () => {
    const partition = 1;
    const input = byPartition(partition);
    const expected = straight(partition, false);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: input.length }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 40 }), (crashes, every) => {
        const published = new Map<string, unknown>();
        const cuts = [...new Set(crashes)].sort((a, b) => a - b);
        let saved: EngineCheckpoint | undefined;
        let next = 0;
        for (let attempt = 0; attempt <= cuts.length; attempt++) {
          const engine = new PipelineEngine(spec, { scheme, partition, ...(saved ? { checkpoint: JSON.parse(JSON.stringify(saved)) as EngineCheckpoint } : {}) });
          const crashAt = cuts[attempt] ?? input.length;
          // checkpoints every few messages; the outputs after the last checkpoint are published, then lost with the process
          for (let i = next; i < crashAt; i++) {
            for (const o of engine.process(input[i]!)) {
              const id = identity(o);
              if (published.has(id)) expect(comparable(o), id).toEqual(published.get(id));
              published.set(id, comparable(o));
            }
            if ((i + 1) % every === 0) saved = engine.checkpoint();
          }
          if (attempt === cuts.length) saved = engine.checkpoint();
          next = (saved?.lastSeq ?? 0) === 0 ? 0 : input.findIndex((m) => m.seq === saved!.lastSeq) + 1;
        }
        expect([...published.keys()].sort()).toEqual(expected.map(identity).sort());
        for (const o of expected) expect(published.get(identity(o))).toEqual(comparable(o));
      }),
      { numRuns: 20 },
    );
  });

  it('ignores redelivered messages it already processed', () => {
    const engine = new PipelineEngine(spec, { scheme, partition: 2 });
    const input = byPartition(2);
    const first = input.slice(0, 100).flatMap((m) => engine.process(m));
    expect(input.slice(50, 100).flatMap((m) => engine.process(m))).toEqual([]);
    const rest = input.slice(100).flatMap((m) => engine.process(m));
    expect([...first, ...rest].map(identity)).toEqual(straight(2, false).map(identity));
  });

  it('refuses a checkpoint written by another definition of the pipeline', () => {
    const engine = new PipelineEngine(spec, { scheme, partition: 0 });
    for (const m of byPartition(0).slice(0, 20)) engine.process(m);
    const changed = parsePipelineSpec({ ...sensorPipelineFixture, windows: [{ name: 'stats-1m', window: { type: 'tumbling', sizeMs: 30_000 } }] });
    let error: unknown;
    try {
      new PipelineEngine(changed, { scheme, partition: 0, checkpoint: engine.checkpoint() });
    } catch (e) {
      error = e;
    }
    expect(isPipelineError(error, 'pipeline-changed')).toBe(true);
  });

  it('previews open windows provisionally without changing later results', () => {
    const input = byPartition(3);
    const engine = new PipelineEngine(spec, { scheme, partition: 3 });
    const out: EngineOutput[] = [];
    input.forEach((m, i) => {
      out.push(...engine.process(m));
      if (i % 25 === 0) {
        const preview = engine.provisional();
        expect(preview.length).toBeGreaterThan(0);
        for (const p of preview) expect(p.kind === 'derived' && (p.event.data as { provisional: boolean }).provisional).toBe(true);
      }
    });
    expect(out.map(identity)).toEqual(straight(3, false).map(identity));
  });
});
