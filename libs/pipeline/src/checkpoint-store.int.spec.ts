import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStreams, natsNamespace } from '@tideway/testing';
import { CheckpointStore } from './checkpoint-store.ts';
import { processorConsumerConfig } from './consumers.ts';
import type { EngineCheckpoint } from './engine.ts';
import { isPipelineError } from './errors.ts';
import { sensorPipelineFixture } from './fixtures.ts';
import { parsePipelineSpec } from './spec.ts';

const ns = natsNamespace();

function checkpoint(lastSeq: number, operators: Record<string, unknown> = {}): EngineCheckpoint {
  return { v: 1, pipeline: 'p', partition: 3, specHash: 'h', lastSeq, logTime: 1, trigger: null, operators: operators as EngineCheckpoint['operators'] };
}

describe('CheckpointStore (JetStream KV)', () => {
  let nc: NatsConnection;
  let store: CheckpointStore;
  beforeAll(async () => {
    nc = await connect({ servers: process.env['NATS_URL']! });
    store = await CheckpointStore.open(nc, { bucket: `processor-state${ns.streamSuffix}`, chunkBytes: 4096 });
  });
  afterAll(async () => {
    await nc?.close();
    await deleteStreams(process.env['NATS_URL']!, ns.streamSuffix);
  });

  it('saves with compare-and-set and loads what it saved', async () => {
    expect(await store.load('p', 3)).toBeUndefined();
    const r1 = await store.save(checkpoint(10, { a: [1, 2, 3] }), undefined);
    const loaded = await store.load('p', 3);
    expect(loaded).toEqual({ checkpoint: checkpoint(10, { a: [1, 2, 3] }), revision: r1 });
    const r2 = await store.save(checkpoint(20), r1);
    expect((await store.load('p', 3))?.checkpoint.lastSeq).toBe(20);
    expect(r2).toBeGreaterThan(r1);
  });

  it('refuses a write based on a stale revision: a second owner of the partition cannot overwrite the state', async () => {
    const current = (await store.load('p', 3))!;
    await store.save(checkpoint(30), current.revision);
    let error: unknown;
    try {
      await store.save(checkpoint(25), current.revision);
    } catch (e) {
      error = e;
    }
    expect(isPipelineError(error, 'checkpoint-conflict')).toBe(true);
    expect((await store.load('p', 3))?.checkpoint.lastSeq).toBe(30);
    let created: unknown;
    try {
      await store.save(checkpoint(1), undefined);
    } catch (e) {
      created = e;
    }
    expect(isPipelineError(created, 'checkpoint-conflict')).toBe(true);
  });

  it('splits large state into chunks, removes superseded ones, and reports positions', async () => {
    // incompressible content, so the state exceeds one 4 KiB chunk several times over
    const big = Array.from({ length: 3000 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453);
    const current = (await store.load('p', 3))!;
    const r1 = await store.save(checkpoint(40, { big }), current.revision);
    expect((await store.load('p', 3))?.checkpoint.operators).toEqual({ big });
    await store.save(checkpoint(50, { big: big.slice(1) }), r1);
    const loaded = (await store.load('p', 3))!;
    expect(loaded.checkpoint.operators).toEqual({ big: big.slice(1) });
    expect(await store.positions()).toEqual([{ pipeline: 'p', partition: 3, lastSeq: 50, specHash: 'h', revision: loaded.revision }]);
    await store.remove('p', 3);
    expect(await store.load('p', 3)).toBeUndefined();
    expect(await store.positions()).toEqual([]);
  });

  it('builds consumer definitions the stock NATS CLI accepts', async () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const schema = JSON.parse(await readFile(`${root}streams/schemas/consumer_configuration.json`, 'utf8')) as object;
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const valid = ajv.compile(schema);
    const config = processorConsumerConfig(parsePipelineSpec(sensorPipelineFixture), 7, { root: 'tw', partitions: 16 });
    expect(valid(config), ajv.errorsText(valid.errors)).toBe(true);
    expect(config.filter_subject).toBe('tw.evt.*.7.iot.sensor.reading');
  });
});
