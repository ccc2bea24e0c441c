import type { EventInput } from '@tideway/events';

/** A small deterministic PRNG (mulberry32), so a demo run can be reproduced from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SensorFleetOptions {
  readonly devices: number;
  /** Probability that a reading is a fault (a spike far outside 20–80, or a stuck sensor at 0). */
  readonly faultRate: number;
  readonly seed: number;
}

/**
 * IoT sensor readings: each device drifts around its own baseline within 20–80 with a daily cycle and noise;
 * occasionally a device faults (a spike to 95–140 or a drop to 0).
 */
export class SensorFleet {
  private readonly random: () => number;
  private readonly baselines: number[];
  private counter = 0;

  constructor(private readonly options: SensorFleetOptions) {
    this.random = prng(options.seed);
    this.baselines = Array.from({ length: options.devices }, () => 30 + this.random() * 40);
  }

  /** One reading per device, at `now`. */
  tick(now: Date): EventInput[] {
    const hours = now.getUTCHours() + now.getUTCMinutes() / 60;
    return this.baselines.map((baseline, i) => {
      const deviceId = `sensor-${String(i).padStart(3, '0')}`;
      let value = baseline + 8 * Math.sin((2 * Math.PI * hours) / 24) + (this.random() - 0.5) * 6;
      value = Math.min(80, Math.max(20, value));
      if (this.random() < this.options.faultRate) value = this.random() < 0.7 ? 95 + this.random() * 45 : 0;
      this.counter++;
      return {
        specversion: '1.0',
        id: `${deviceId}-${now.getTime()}`,
        source: 'urn:tideway:demo:sensors',
        type: 'iot.sensor.reading',
        subject: deviceId,
        time: now.toISOString(),
        data: { device_id: deviceId, reading_value: Math.round(value * 100) / 100, unit: 'celsius' },
      };
    });
  }
}

/** Customer orders arriving in batches, as an upstream order system exports them. */
export class OrderBatches {
  private readonly random: () => number;
  private next = 1;

  constructor(seed: number, private readonly customers = 500) {
    this.random = prng(seed);
  }

  batch(now: Date, size: number): EventInput[] {
    return Array.from({ length: size }, () => {
      const orderId = `ord-${String(this.next++).padStart(8, '0')}`;
      const customerId = `cust-${String(Math.floor(this.random() * this.customers)).padStart(5, '0')}`;
      const amount = Math.round((5 + this.random() ** 2 * 495) * 100) / 100;
      return {
        specversion: '1.0',
        id: orderId,
        source: 'urn:tideway:demo:orders',
        type: 'commerce.order.placed',
        subject: customerId,
        partitionkey: customerId,
        time: now.toISOString(),
        data: { order_id: orderId, customer_id: customerId, amount, currency: 'EUR', order_date: now.toISOString().slice(0, 10) },
      };
    });
  }
}
