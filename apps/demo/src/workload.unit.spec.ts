import { describe, expect, it } from 'vitest';
import { OrderPlacedSchema, SensorReadingSchema, validateEventInput } from '@tideway/events';
import { OrderBatches, SensorFleet } from './workload.ts';

describe('demo workload', () => {
  it('produces valid sensor readings, mostly within 20–80, with occasional faults', () => {
    const fleet = new SensorFleet({ devices: 20, faultRate: 0.01, seed: 7 });
    const readings = Array.from({ length: 200 }, (_, i) => fleet.tick(new Date(Date.UTC(2026, 0, 1) + i * 60_000))).flat();
    for (const r of readings) expect(validateEventInput(r).ok).toBe(true);
    const values = readings.map((r) => SensorReadingSchema.parse(r.data).reading_value);
    const normal = values.filter((v) => v >= 20 && v <= 80).length;
    expect(normal / values.length).toBeGreaterThan(0.97);
    expect(values.some((v) => v > 90 || v === 0)).toBe(true);
  });

  it('produces valid order batches with unique order ids', () => {
    const orders = new OrderBatches(3);
    const batch = [...orders.batch(new Date(), 100), ...orders.batch(new Date(), 100)];
    for (const o of batch) expect(OrderPlacedSchema.safeParse(o.data).success).toBe(true);
    expect(new Set(batch.map((o) => o.id)).size).toBe(200);
  });
});
