import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStreams, natsNamespace } from '@tideway/testing';
import { applyDefinitions, diffConfig, inNamespace, loadDefinitions } from './index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const streamsDir = `${root}streams`;
const schemaDir = `${root}streams/schemas`;

describe('streams as code', () => {
  let nc: NatsConnection;
  const ns = natsNamespace();
  beforeAll(async () => {
    nc = await connect({ servers: process.env['NATS_URL']! });
  });
  afterAll(async () => {
    await nc?.close();
    await deleteStreams(process.env['NATS_URL']!, ns.streamSuffix);
  });

  it('every file validates against the NATS JSON Schemas, so the stock CLI accepts it', async () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    const streamSchema = JSON.parse(await readFile(`${schemaDir}/stream_configuration.json`, 'utf8')) as object;
    const consumerSchema = JSON.parse(await readFile(`${schemaDir}/consumer_configuration.json`, 'utf8')) as object;
    const validStream = ajv.compile(streamSchema);
    const validConsumer = ajv.compile(consumerSchema);
    const defs = await loadDefinitions(streamsDir);
    expect(defs.streams.length).toBeGreaterThanOrEqual(2);
    expect(defs.consumers.length).toBeGreaterThanOrEqual(1);
    for (const s of defs.streams) expect(validStream(s.config), `${s.file}: ${ajv.errorsText(validStream.errors)}`).toBe(true);
    for (const c of defs.consumers) expect(validConsumer(c.config), `${c.file}: ${ajv.errorsText(validConsumer.errors)}`).toBe(true);
    // consumers for the stock CLI only (not applied by services)
    const manual = await loadDefinitions(`${streamsDir}/replay`);
    expect(manual.consumers.length).toBeGreaterThanOrEqual(1);
    for (const c of manual.consumers) expect(validConsumer(c.config), `${c.file}: ${ajv.errorsText(validConsumer.errors)}`).toBe(true);
  });

  it('gives no consumer a filter subject that selects its whole stream (NATS 2.9 would match it per message)', async () => {
    const defs = await loadDefinitions(streamsDir);
    const subjects = new Map(defs.streams.map((s) => [s.config.name, s.config.subjects ?? []]));
    for (const c of defs.consumers) {
      const filter = c.config.filter_subject;
      if (filter !== undefined) expect(subjects.get(c.stream), `${c.file}: filter ${JSON.stringify(filter)} is the whole stream`).not.toEqual([filter]);
    }
  });

  it('creates what is missing, then finds the server equal to the files', async () => {
    const jsm = await jetstreamManager(nc);
    const defs = inNamespace(await loadDefinitions(streamsDir), ns);
    const first = await applyDefinitions(jsm, defs);
    expect(first.every((r) => r.action === 'created')).toBe(true);
    const second = await applyDefinitions(jsm, defs);
    expect(second.map((r) => r.action)).toEqual(second.map(() => 'unchanged'));
    for (const s of defs.streams) {
      const info = await jsm.streams.info(s.config.name);
      expect(diffConfig(s.config, info.config as unknown as Record<string, unknown>)).toEqual([]);
    }
    for (const c of defs.consumers) {
      const info = await jsm.consumers.info(c.stream, c.config.durable_name);
      expect(diffConfig(c.config, info.config as unknown as Record<string, unknown>)).toEqual([]);
    }
  });

  it('reports and repairs drift', async () => {
    const jsm = await jetstreamManager(nc);
    const defs = inNamespace(await loadDefinitions(streamsDir), ns);
    const events = defs.streams.find((s) => s.config.name.startsWith('EVENTS'))!;
    await jsm.streams.update(events.config.name, { ...events.config, max_age: 7_200_000_000_000 });
    const results = await applyDefinitions(jsm, defs);
    const result = results.find((r) => r.name === events.config.name)!;
    expect(result.action).toBe('updated');
    expect(result.drift).toEqual([{ field: 'max_age', expected: events.config['max_age'], actual: 7_200_000_000_000 }]);
    const info = await jsm.streams.info(events.config.name);
    expect(info.config.max_age).toBe(events.config['max_age']);
  });
});
