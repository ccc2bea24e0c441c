import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope, StoredEvent } from '@tideway/events';
import { createPgSchema, type PgSchema } from '@tideway/testing';
import { WarmDerivedProjection, migrateWarmStore, openWarmStore, type WarmStore } from './index.ts';

const migrations = fileURLToPath(new URL('../../../migrations', import.meta.url));
const lineage = { partition: 3, firstSeq: 1, lastSeq: 9, emittedAtSeq: 9 };

function derived(seq: number, id: string, type: string, data: unknown): StoredEvent {
  const event: EventEnvelope = {
    specversion: '1.0', id, source: 'urn:tideway:processor', type, time: '2026-02-01T00:01:00Z', tenant: 'acme',
    partitionkey: 'd1', datacontenttype: 'application/json', recordedtime: '2026-02-01T00:01:00Z', data,
  };
  return { seq, subject: 'x', event };
}

const win = (final: boolean, count: number, start = '2026-02-01T00:00:00.000Z', end = '2026-02-01T00:01:00.000Z', replaces: { start: string; end: string }[] = []) => ({
  pipeline: 'p', stage: 'minute', key: 'd1', window: { start, end }, aggregate: 'stats', value: { count }, count, final,
  provisional: !final, updateCount: 0, trigger: final ? 'watermark' : 'idle', replaces, lineage,
});

describe('warm projection of derived events', () => {
  let pg: PgSchema;
  let store: WarmStore;
  beforeAll(async () => {
    pg = await createPgSchema(process.env['DATABASE_URL']!);
    store = openWarmStore({ url: process.env['DATABASE_URL']!, schema: pg.schema, max: 2 });
    await migrateWarmStore(store, migrations);
  });
  afterAll(async () => {
    await store?.close();
    await pg?.drop();
  });

  it('keeps one row per window (the latest result), drops merged-away windows, and stores anomalies and alerts once', async () => {
    const p = new WarmDerivedProjection(store);
    const anomaly = { pipeline: 'p', stage: 'score', key: 'd1', value: 140, score: 0.99, threshold: 0.9, components: { ewma: 1 }, eventTime: '2026-02-01T00:00:30Z', input: { id: 'r9', source: 's', seq: 9 }, lineage };
    const alert = { pipeline: 'p', stage: 'score', key: 'd1', value: 140, score: 0.99, threshold: 0.9, at: '2026-02-01T00:00:30Z', suppressedBefore: 0, anomalyId: 'a1', summary: 'd1 is 140', input: { id: 'r9', source: 's', seq: 9 }, lineage };
    const batch = [
      derived(1, 'w-prov', 'tideway.window.result', win(false, 3)),
      derived(2, 'w-other', 'tideway.window.result', win(true, 1, '2026-02-01T00:05:00.000Z', '2026-02-01T00:06:00.000Z')),
      derived(3, 'w-final', 'tideway.window.result', win(true, 5, '2026-02-01T00:00:00.000Z', '2026-02-01T00:01:00.000Z', [{ start: '2026-02-01T00:05:00.000Z', end: '2026-02-01T00:06:00.000Z' }])),
      derived(4, 'a1', 'tideway.anomaly.detected', anomaly),
      derived(5, 'al1', 'tideway.alert.raised', alert),
    ];
    expect((await p.apply(batch, 5)).checkpoint).toBe(5);
    expect(await p.apply(batch, 5)).toEqual({ applied: 0, skipped: 5, checkpoint: 5 });
    const windows = await store.sql`select window_start, count, final, event_id from window_results`;
    expect(windows).toHaveLength(1);
    expect(windows[0]).toMatchObject({ count: '5', final: true, event_id: 'w-final' });
    expect(await store.sql`select id, score from anomalies`).toEqual([{ id: 'a1', score: 0.99 }]);
    expect(await store.sql`select id, summary from alerts`).toEqual([{ id: 'al1', summary: 'd1 is 140' }]);
  });

  it('rejects a derived event whose payload breaks its schema', () => {
    const p = new WarmDerivedProjection(store);
    expect(p.reject(derived(9, 'x', 'tideway.anomaly.detected', { score: 7 }))).toMatch(/does not match/);
    expect(p.reject(derived(9, 'x', 'some.other.type', {}))).toBeUndefined();
  });
});
