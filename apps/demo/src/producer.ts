import { OrderBatches, SensorFleet } from './workload.ts';

export interface DemoProducerOptions {
  readonly ingestUrl: string;
  /** API key with the `ingest` scope (sent as `Authorization: Bearer`); not needed when the gateway runs with TIDEWAY_AUTH=off. */
  readonly apiKey?: string;
  readonly devices?: number;
  /** Sensor readings per device per second. */
  readonly readingsPerSecond?: number;
  /** Seconds between order batches. */
  readonly orderBatchEverySeconds?: number;
  readonly seed?: number;
  readonly log?: (line: string) => void;
}

/** Runs the demo workload against the ingest API until `stop()`; retries on 429/503 as a good producer does. */
export function startDemoProducer(options: DemoProducerOptions): {
  stop: () => Promise<void>;
  stats: () => { sent: number; failed: number };
} {
  const fleet = new SensorFleet({ devices: options.devices ?? 50, faultRate: 0.002, seed: options.seed ?? 42 });
  const orders = new OrderBatches(options.seed ?? 42);
  const log = options.log ?? (() => {});
  let sent = 0;
  let failed = 0;
  let running = true;

  async function post(events: unknown[]): Promise<void> {
    for (let attempt = 0; attempt < 5 && running; attempt++) {
      try {
        const res = await fetch(`${options.ingestUrl}/v1/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
          },
          body: JSON.stringify(events),
        });
        if (res.status === 202) {
          sent += events.length;
          return;
        }
        const retryAfter = Number(res.headers.get('retry-after') ?? '1');
        log(`ingest answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        if (res.status !== 429 && res.status !== 503) break;
        await new Promise((r) => setTimeout(r, retryAfter * 1000));
      } catch (error) {
        log(`ingest unreachable: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    failed += events.length;
  }

  const sensorEvery = 1000 / (options.readingsPerSecond ?? 1);
  const sensors = setInterval(() => void post(fleet.tick(new Date())), sensorEvery);
  const orderTimer = setInterval(
    () => void post(orders.batch(new Date(), 20 + Math.floor(Math.random() * 180))),
    (options.orderBatchEverySeconds ?? 5) * 1000,
  );
  return {
    stop: async () => {
      running = false;
      clearInterval(sensors);
      clearInterval(orderTimer);
      await new Promise((r) => setTimeout(r, 100));
    },
    stats: () => ({ sent, failed }),
  };
}
