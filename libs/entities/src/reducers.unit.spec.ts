import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '@tideway/events';
import { EntityReducers } from './reducers.ts';

const base = { specversion: '1.0', source: 's', tenant: 't', partitionkey: 'k', datacontenttype: 'application/json', recordedtime: '2026-01-01T00:00:00Z' } as const;
const reading = (id: string, v: number, i: number): EventEnvelope => ({ ...base, id, type: 'iot.sensor.reading', subject: 'd1', time: `2026-01-01T00:00:0${i}Z`, data: { device_id: 'd1', reading_value: v } });

describe('entity reducers', () => {
  const reducers = new EntityReducers();

  it('folds sensor readings into device state', () => {
    const r = reducers.for('iot.sensor.reading');
    const events = [reading('a', 10, 1), reading('b', 30, 2), reading('c', 20, 3)];
    expect(r.entityOf(events[0]!)).toEqual({ entityType: 'device', entityId: 'd1' });
    const state = events.reduce<Record<string, unknown> | undefined>((s, e, i) => r.reduce(s, e, i + 1), undefined);
    expect(state).toMatchObject({ last_value: 20, count: 3, sum: 60, min: 10, max: 30, mean: 20, last_seq: 3 });
  });

  it('folds orders into customer state', () => {
    const r = reducers.for('commerce.order.placed');
    const order = (id: string, amount: number): EventEnvelope => ({ ...base, id, type: 'commerce.order.placed', time: '2026-01-01T00:00:00Z', data: { order_id: id, customer_id: 'c9', amount, order_date: '2026-01-01' } });
    const s1 = r.reduce(undefined, order('o1', 10.1), 1);
    const s2 = r.reduce(s1, order('o2', 0.2), 2);
    expect(r.entityOf(order('o1', 1))).toEqual({ entityType: 'customer', entityId: 'c9' });
    expect(s2).toMatchObject({ orders: 2, total_amount: 10.3, last_order_id: 'o2' });
  });

  it('uses the subject for other types, and skips events without one', () => {
    const r = reducers.for('misc.thing');
    expect(r.entityOf({ ...base, id: 'x', type: 'misc.thing', time: '2026-01-01T00:00:00Z', subject: 'th-1', data: 1 })).toEqual({ entityType: 'misc.thing', entityId: 'th-1' });
    expect(r.entityOf({ ...base, id: 'x', type: 'misc.thing', time: '2026-01-01T00:00:00Z', data: 1 })).toBeUndefined();
  });
});
