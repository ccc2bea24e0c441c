import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStreams, natsNamespace, waitFor } from '@tideway/testing';
import { BatchConsumer } from './index.ts';

const TOTAL = 1_000;

describe('BatchConsumer with concurrent batches', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const ns = natsNamespace();
  const stream = `BATCHES${ns.streamSuffix}`;
  beforeAll(async () => {
    nc = await connect({ servers: process.env['NATS_URL']! });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${ns.subjectRoot}.>`], storage: 'memory' });
    const js = jetstream(nc);
    await Promise.all(Array.from({ length: TOTAL }, (_, i) => js.publish(`${ns.subjectRoot}.m`, String(i + 1))));
  });
  afterAll(async () => {
    await nc?.close();
    await deleteStreams(process.env['NATS_URL']!, ns.streamSuffix);
  });

  it('overlaps batches, retries a failed one and every batch after it in order, and acknowledges in order', async () => {
    await jsm.consumers.add(stream, { durable_name: 'c', ack_policy: 'all', max_ack_pending: 1_000, ack_wait: 30_000_000_000 });
    const consumer = await jetstream(nc).consumers.get(stream, 'c');
    // A store that commits in call order: a batch commits only after, and only if, the one before it did.
    let committedThrough = 0;
    const commitOrder: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    let previous: Promise<void> | undefined; // the call before, while it runs
    const errors: number[] = [];
    const handler = (msgs: readonly JsMsg[]): Promise<void> => {
      const first = msgs[0]!.seq;
      const last = msgs.at(-1)!.seq;
      const call = ++calls;
      const predecessor = previous;
      const mine: Promise<void> = (async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, 5 + ((call * 7) % 11)));
          if (call === 3) throw new Error('injected failure');
          await predecessor;
          if (first !== committedThrough + 1) throw new Error(`batch ${first}..${last} after ${committedThrough}: out of order`);
          committedThrough = last;
          commitOrder.push(first, last);
        } finally {
          inFlight--;
        }
      })();
      previous = mine;
      void mine.finally(() => previous === mine && (previous = undefined)).catch(() => undefined);
      return mine;
    };
    const batches = new BatchConsumer(consumer, handler, { maxBatch: 100, maxWaitMs: 20, ack: 'last', concurrency: 2, onError: (_e, attempt) => errors.push(attempt) });
    await batches.start();
    await waitFor(async () => (await jsm.consumers.info(stream, 'c')).ack_floor.stream_seq === TOTAL, { timeoutMs: 20_000 });
    await batches.stop();

    expect(maxInFlight).toBe(2);
    expect(committedThrough).toBe(TOTAL);
    // every batch committed once, in order, with no gap
    for (let i = 0; i < commitOrder.length; i += 2) expect(commitOrder[i]).toBe(i === 0 ? 1 : commitOrder[i - 1]! + 1);
    // the injected failure was reported, and it and the batch in flight behind it were retried
    expect(errors).toEqual([1]);
    expect(batches.processed).toBe(TOTAL);
  });
});
