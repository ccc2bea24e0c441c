import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DerivedEventType, type EventEnvelope, type StoredEvent } from '@tideway/events';
import { createPgSchema, type PgSchema } from '@tideway/testing';
import { WarmDerivedProjection, WarmProjection, migrateWarmStore, openWarmStore, type WarmStore } from '@tideway/warm';
import { alertAcknowledgementEvent } from './acknowledgement.ts';
import { AnalyticsReader } from './reader.ts';

const migrations = fileURLToPath(new URL('../../../migrations', import.meta.url));
const lineage = { partition: 0, firstSeq: 1, lastSeq: 1, emittedAtSeq: 1 };
const input = { id: 'i', source: 's', seq: 1 };

function derived(seq: number, type: string, id: string, data: unknown, tenant = 'acme'): StoredEvent {
  const event: EventEnvelope = { specversion: '1.0', id, source: 'urn:p', type, time: '2026-03-01T00:00:00Z', tenant, partitionkey: id, datacontenttype: 'application/json', recordedtime: '2026-03-01T00:00:00Z', data };
  return { seq, subject: 'x', event };
}

describe('analytics reader', () => {
  let pg: PgSchema;
  let store: WarmStore;
  let reader: AnalyticsReader;

  beforeAll(async () => {
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    store = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 2 });
    await migrateWarmStore(store, migrations);
    const events: StoredEvent[] = [];
    let seq = 0;
    for (let w = 0; w < 5; w++) {
      const start = new Date(Date.UTC(2026, 2, 1, 0, w)).toISOString();
      const end = new Date(Date.UTC(2026, 2, 1, 0, w + 1)).toISOString();
      for (const key of ['a', 'b']) {
        events.push(derived(++seq, DerivedEventType.WindowResult, `w${w}${key}`, { pipeline: 'p', stage: 'm', key, window: { key, start, end }, aggregate: 'count', value: w, count: w, final: true, provisional: false, updateCount: 0, trigger: 'watermark', replaces: [], lineage }));
      }
    }
    for (let a = 0; a < 5; a++) {
      const at = new Date(Date.UTC(2026, 2, 1, 1, a)).toISOString();
      const common = { pipeline: 'p', stage: 'd', key: a % 2 ? 'a' : 'b', value: a, score: 0.5 + a / 10, threshold: 0.5, input, lineage };
      events.push(derived(++seq, DerivedEventType.AnomalyDetected, `an${a}`, { ...common, components: {}, eventTime: at }));
      events.push(derived(++seq, DerivedEventType.AlertRaised, `al${a}`, { ...common, at, suppressedBefore: 0, anomalyId: `an${a}`, summary: 's' }));
    }
    events.push(derived(++seq, DerivedEventType.AlertRaised, 'al-x', { pipeline: 'p', stage: 'd', key: 'a', value: 1, score: 1, threshold: 0.5, at: '2026-03-01T01:00:00Z', suppressedBefore: 0, anomalyId: 'z', summary: 's', input, lineage }, 'other'));
    await new WarmDerivedProjection(store).apply(events, seq);
    // an acknowledgement is an event folded into entity_state by the warm events projection
    await new WarmProjection(store).apply([{ seq: 1, subject: 'x', event: alertAcknowledgementEvent('acme', 'al3', { by: 'ops', note: 'seen' }) }], 1);
    reader = new AnalyticsReader(store);
  });
  afterAll(async () => {
    await store?.close();
    await pg?.drop();
  });

  it('pages window results in (start, stage, key, end) order', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await reader.windowResults({ tenant: 'acme', pipeline: 'p', limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((r) => `${r.window_start.slice(11, 16)}/${r.key}`));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['00:00/a', '00:00/b', '00:01/a', '00:01/b', '00:02/a', '00:02/b', '00:03/a', '00:03/b', '00:04/a', '00:04/b']);
    expect((await reader.windowResults({ tenant: 'acme', pipeline: 'p', key: 'b', from: '2026-03-01T00:03:00Z', limit: 10 })).items.map((r) => r.value)).toEqual([3, 4]);
  });

  it('lists anomalies and alerts newest first, with acknowledgements, per tenant', async () => {
    expect((await reader.anomalies({ tenant: 'acme', limit: 10, minScore: 0.7 })).items.map((a) => a.id)).toEqual(['an4', 'an3', 'an2']);
    const first = await reader.alerts({ tenant: 'acme', limit: 2 });
    const second = await reader.alerts({ tenant: 'acme', limit: 10, cursor: first.nextCursor! });
    expect([...first.items, ...second.items].map((a) => a.id)).toEqual(['al4', 'al3', 'al2', 'al1', 'al0']);
    expect(await reader.alert('acme', 'al3')).toMatchObject({ status: 'acknowledged', acknowledged_by: 'ops', note: 'seen' });
    expect((await reader.alerts({ tenant: 'acme', limit: 10, status: 'open' })).items).toHaveLength(4);
    expect(await reader.alert('acme', 'al-x')).toBeUndefined();
    await expect(reader.alerts({ tenant: 'acme', limit: 1, cursor: first.nextCursor!.slice(2) })).rejects.toThrow(/cursor/);
  });
});
