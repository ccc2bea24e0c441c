import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { partitionsOf, replicaIndexOf } from './assignment.ts';
import { isPipelineError } from './errors.ts';
import { sensorPipelineFixture } from './fixtures.ts';
import { loadPipelineSpecs, parsePipelineSpec, selectPipelines, specHash } from './spec.ts';

const pipelinesDir = fileURLToPath(new URL('../../../pipelines', import.meta.url));

describe('pipeline definitions', () => {
  it('fill in defaults', () => {
    const spec = parsePipelineSpec({ name: 'p', source: { type: 'iot.sensor.reading' }, value: 'data.v', anomaly: {} });
    expect(spec.key).toBe('partitionkey');
    expect(spec.time).toEqual({ maxOutOfOrdernessMs: 5_000, allowedLatenessMs: 0, maxFutureMs: 86_400_000 });
    expect(spec.anomaly).toEqual({ name: 'anomaly', threshold: 0.6, alerts: { cooldownMs: 600_000 } });
    expect(spec.dedupe).toBe(false);
  });

  it('name every bad field, and refuse pipelines without stages or with clashing stage names', () => {
    const errorOf = (input: unknown): string => {
      try {
        parsePipelineSpec(input, 'x.pipeline.json');
      } catch (error) {
        expect(isPipelineError(error, 'invalid-pipeline')).toBe(true);
        return (error as Error).message;
      }
      return 'no error';
    };
    const message = errorOf({ name: 'Bad Name', source: { type: 'a..b' }, value: 'data v', windows: [{ name: 'w', window: { type: 'tumbling', sizeMs: 0 } }] });
    expect(message).toMatch(/^x\.pipeline\.json is invalid/);
    for (const field of ['name', 'source.type', 'value', 'windows.0.window.sizeMs']) expect(message).toContain(`  ${field}: `);
    expect(errorOf({ name: 'p', source: { type: 't' }, value: 'v' })).toMatch(/at least one window or an anomaly stage/);
    expect(errorOf({ name: 'p', source: { type: 't' }, value: 'v', windows: [{ name: 'a', window: { type: 'session', gapMs: 5 } }], anomaly: { name: 'a' } })).toMatch(/stage name a is used twice/);
    expect(errorOf({ name: 'p', source: { type: 't' }, value: 'v', anomaly: { detector: { ewma: { alpha: 7 } } } })).toMatch(/anomaly\.detector: alpha must be in \(0, 1\)/);
  });

  it('hash what shapes results, not the description', () => {
    const a = parsePipelineSpec(sensorPipelineFixture);
    const b = parsePipelineSpec({ ...sensorPipelineFixture, description: 'other words' });
    const c = parsePipelineSpec({ ...sensorPipelineFixture, time: { maxOutOfOrdernessMs: 1_000 } });
    expect(specHash(a)).toBe(specHash(b));
    expect(specHash(a)).not.toBe(specHash(c));
  });

  it('the shipped pipelines/ definitions are valid', async () => {
    const specs = await loadPipelineSpecs(pipelinesDir);
    expect(specs.map((s) => s.name)).toContain('sensor-readings');
    expect(selectPipelines(specs, ['sensor-readings'])[0]!.windows[0]!.window).toEqual({ type: 'tumbling', sizeMs: 60_000, offsetMs: 0 });
    expect(() => selectPipelines(specs, ['nope'])).toThrow(/no pipeline named nope/);
  });
});

describe('replica assignment', () => {
  it('splits partitions round-robin, every partition to exactly one replica', () => {
    expect(partitionsOf(0, 1, 4)).toEqual([0, 1, 2, 3]);
    const three = [0, 1, 2].map((r) => partitionsOf(r, 3, 16));
    expect(three.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(three[2]).toEqual([2, 5, 8, 11, 14]);
    expect(() => partitionsOf(3, 3, 16)).toThrow(/replica index/);
  });

  it('reads a replica index from a number or a StatefulSet pod name', () => {
    expect(replicaIndexOf('2')).toBe(2);
    expect(replicaIndexOf('processor-11')).toBe(11);
    expect(replicaIndexOf('tideway-processor-0')).toBe(0);
    expect(replicaIndexOf('processor')).toBeUndefined();
  });
});
