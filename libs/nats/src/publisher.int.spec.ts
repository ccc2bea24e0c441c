import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTidewayError } from '@tideway/events';
import { deleteStreams, natsNamespace } from '@tideway/testing';
import { JetStreamPublisher, type OutgoingMessage } from './index.ts';

/**
 * The connection as the publisher sees it: as is (it writes frames through the protocol writer), or with the
 * protocol internals hidden (it falls back to `nc.publish`) — both paths must behave the same.
 */
function asSeen(nc: NatsConnection, path: 'frames' | 'nc.publish'): NatsConnection {
  if (path === 'frames') return nc;
  return new Proxy(nc, {
    get(target, key) {
      if (key === 'protocol') return undefined;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe.each(['frames', 'nc.publish'] as const)('JetStreamPublisher (%s)', (path) => {
  let conn: NatsConnection;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const ns = natsNamespace();
  const stream = `PUBLISHER${ns.streamSuffix}`;
  const message = (id: string, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
    subject: `${ns.subjectRoot}.m`,
    payload: Buffer.from(`{"id":"${id}"}`),
    msgId: id,
    ...extra,
  });
  beforeAll(async () => {
    conn = await connect({ servers: process.env['NATS_URL']! });
    nc = asSeen(conn, path);
    jsm = await jetstreamManager(conn);
    await jsm.streams.add({ name: stream, subjects: [`${ns.subjectRoot}.>`], storage: 'memory', duplicate_window: 60_000_000_000 });
  });
  afterAll(async () => {
    await conn?.close();
    await deleteStreams(process.env['NATS_URL']!, ns.streamSuffix);
  });

  it('publishes a batch with fewer slots than messages, one outcome per message in order, duplicates recognised', async () => {
    const publisher = new JetStreamPublisher(nc, { maxInFlight: 7 });
    const batch = Array.from({ length: 50 }, (_, i) => message(`a-${i}`));
    const first = await publisher.publishMany(batch);
    expect(first.every((o) => !(o instanceof Error) && !o.duplicate)).toBe(true);
    const seqs = first.map((o) => (o instanceof Error ? 0 : o.seq));
    expect(new Set(seqs).size).toBe(50);
    expect(publisher.pending).toBe(0);

    // A retry of the same ids (with new ones mixed in) is recognised by Nats-Msg-Id and keeps its sequences.
    const again = await publisher.publishMany([...batch.slice(0, 10), message('a-new')]);
    expect(again.slice(0, 10)).toEqual(seqs.slice(0, 10).map((seq) => ({ stream, seq, duplicate: true })));
    expect(again[10]).toMatchObject({ stream, duplicate: false });
    expect(await publisher.publishMany([])).toEqual([]);
  });

  it('sends Nats-Msg-Id and the message headers, a message header of that name replacing it', async () => {
    const publisher = new JetStreamPublisher(nc);
    const [plain, extra, replaced] = await publisher.publishMany([
      message('h-1'),
      message('h-2', { headers: { 'Tw-Schema-Version': ' 2 ', 'X-Other': 'é' } }),
      message('h-3', { headers: { 'Nats-Msg-Id': 'h-3-own' } }),
    ]);
    const read = async (seq: number) => (await jsm.streams.getMessage(stream, { seq }))!;
    const seqOf = (o: unknown) => (o as { seq: number }).seq;
    expect((await read(seqOf(plain))).header.get('Nats-Msg-Id')).toBe('h-1');
    const second = await read(seqOf(extra));
    expect([second.header.get('Nats-Msg-Id'), second.header.get('Tw-Schema-Version'), second.header.get('X-Other')]).toEqual(['h-2', '2', 'é']);
    const third = await read(seqOf(replaced));
    expect(third.header.values('Nats-Msg-Id')).toEqual(['h-3-own']);
  });

  it('fails a message whose headers cannot be sent, and one no stream captures, without failing the others', async () => {
    const publisher = new JetStreamPublisher(nc);
    const outcomes = await publisher.publishMany([
      message('f-1'),
      message('f-2\r\nX: injected'),
      message('f-3', { headers: { 'bad name': 'x' } }),
      message('f-4', { subject: `${ns.subjectRoot}_nostream.m` }),
      message('f-5', { payload: Buffer.alloc((conn.info?.max_payload ?? 1_048_576) + 1) }),
      message('f-6', { subject: `${ns.subjectRoot}.with space` }),
    ]);
    expect(outcomes[0]).toMatchObject({ stream, duplicate: false });
    for (const failed of outcomes.slice(1)) expect(isTidewayError(failed) && failed.code).toBe('publish-failed');
    expect(String((outcomes[3] as Error).message)).toContain('no stream captures its subject');
    expect(String(((outcomes[4] as Error).cause as Error).message)).toContain('max_payload');
    await expect(publisher.publish(message('f-2\nX'))).rejects.toMatchObject({ code: 'publish-failed' });
    expect(publisher.pending).toBe(0);
  });

  it('fails every message at once when the connection is down, and publish() throws', async () => {
    const publisher = new JetStreamPublisher(nc, { connected: () => false });
    const before = (await jsm.streams.info(stream)).state.messages;
    const outcomes = await publisher.publishMany([message('d-1'), message('d-2')]);
    expect(outcomes.map((o) => isTidewayError(o) && o.code)).toEqual(['publish-failed', 'publish-failed']);
    await expect(publisher.publish(message('d-3'))).rejects.toMatchObject({ code: 'publish-failed' });
    expect((await jsm.streams.info(stream)).state.messages).toBe(before);
  });

  it('fails a publish whose ack does not come within the timeout', async () => {
    // A plain subscriber on the subject answers nothing: no stream there, and no ack.
    const silent = nc.subscribe(`${ns.subjectRoot}_silent.m`, { callback: () => undefined });
    const publisher = new JetStreamPublisher(nc, { ackTimeoutMs: 200 });
    const [outcome] = await publisher.publishMany([message('t-1', { subject: `${ns.subjectRoot}_silent.m` })]);
    silent.unsubscribe();
    expect(isTidewayError(outcome) && outcome.code).toBe('publish-failed');
    expect(String(((outcome as Error).cause as Error).message)).toContain('no ack within 200 ms');
  });
});

describe('JetStreamPublisher memory', () => {
  it('leaves nothing live behind after 40,000 publishes (what a heap floor creeping up in a bulk load is not)', async () => {
    // A bulk load's heap floor between major collections rises while in-flight publishes get promoted to the old
    // generation (apps/e2e gateway-bulk); this tells such garbage from a leak by collecting it.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const live = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const conn = await connect({ servers: process.env['NATS_URL']! });
    const ns = natsNamespace();
    try {
      const jsm = await jetstreamManager(conn);
      await jsm.streams.add({ name: `PUBMEM${ns.streamSuffix}`, subjects: [`${ns.subjectRoot}.>`], storage: 'memory', max_msgs: 1_000, duplicate_window: 1_000_000_000 });
      const publisher = new JetStreamPublisher(conn, { maxInFlight: 512 });
      const payload = Buffer.from('x'.repeat(500));
      const round = async (r: number): Promise<void> => {
        const inFlight = new Set<Promise<unknown>>();
        for (let i = 0; i < 10_000; i++) {
          const p: Promise<unknown> = publisher.publish({ subject: `${ns.subjectRoot}.m`, payload, msgId: `${r}-${i}`, headers: { 'Tideway-Test': 'y' } }).finally(() => inFlight.delete(p));
          inFlight.add(p);
          if (inFlight.size >= 512) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
      };
      await round(0); // warm-up: code, inbox subscription, pools
      const before = live();
      for (let r = 1; r <= 4; r++) await round(r);
      expect(live() - before).toBeLessThan(2 * 1024 * 1024);
      expect(publisher.pending).toBe(0);
    } finally {
      await conn.close();
      await deleteStreams(process.env['NATS_URL']!, ns.streamSuffix);
    }
  }, 60_000);
});
