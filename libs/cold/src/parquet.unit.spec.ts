import { describe, expect, it } from 'vitest';
import { ColumnRegistry } from './columns.ts';
import { decodeParquet, decodeSeqs, encodeParquet, eventFromRow, rowFromEvent, unarchivableReason } from './parquet.ts';
import { mixedStream, testEvent } from './spec-helpers.ts';

describe('cold file encoding', () => {
  const events = mixedStream(300, { tenants: 1 }).filter((e) => e.event.type === 'iot.sensor.reading');
  const registry = new ColumnRegistry(100);
  const stage = registry.stage();
  for (const e of events) stage.plan(e.event.tenant, e.event.type, e.event.data, e.seq);
  const flat = stage.columns('t0', 'iot.sensor.reading');

  it('round-trips every event exactly: with data, without, and with an explicit null', async () => {
    const rows = events.map(rowFromEvent);
    const file = encodeParquet(rows, flat);
    const decoded = await decodeParquet(file.bytes);
    expect(decoded.map(eventFromRow)).toEqual(events);
    expect(decoded.some((r) => r.data === 'null')).toBe(true);
    expect(decoded.some((r) => r.data === null)).toBe(true);
    expect(await decodeSeqs(file.bytes)).toEqual(events.map((e) => e.seq));
  });

  it('is deterministic: the same rows give the same bytes', () => {
    const a = encodeParquet(events.map(rowFromEvent), flat);
    const b = encodeParquet(events.map(rowFromEvent), flat);
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
  });

  it('has the fixed columns, then the flattened ones that some row fills', () => {
    const early = events.filter((e) => e.seq < 100).map(rowFromEvent);
    const names = encodeParquet(early, flat).columns.map((c) => c.name);
    expect(names).toEqual([
      'seq', 'id', 'tenant', 'source', 'type', 'subject', 'time', 'recorded_time', 'partition_key', 'stream_subject', 'attributes', 'data',
      'data_device_id', 'data_reading_value',
    ]);
    const late = encodeParquet(events.filter((e) => e.seq > 200).map(rowFromEvent), flat).columns.map((c) => c.name);
    expect(late).toContain('data_unit');
    expect(late).toContain('data_calibrated');
  });

  it('keeps event times to the microsecond and partitions by their UTC date', () => {
    const row = rowFromEvent(testEvent(1, { time: '2024-03-01T23:30:00.123456-01:00' }));
    expect(row.time).toBe(1709339400123456n);
    expect(row.date).toBe('2024-03-02');
  });

  it('names what it cannot archive', () => {
    expect(unarchivableReason(testEvent(1, { time: 'soon' }).event)).toMatch(/time/);
    expect(unarchivableReason(testEvent(1, { time: '2024-03-01T00:00:00Z', tenant: 'A/B' }).event)).toMatch(/tenant/);
    expect(unarchivableReason(testEvent(1, { time: '2024-03-01T00:00:00Z' }).event)).toBeUndefined();
  });
});
