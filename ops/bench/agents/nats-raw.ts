/**
 * Raw JetStream references from Node: publishing with a bounded window of in-flight publishes (through
 * `@nats-io/jetstream`'s `js.publish`, and as plain core requests to the stream's subject), and consuming a
 * pre-filled stream with per-message ack, batched ack (ack-all, every Nth) and an ordered consumer.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { serveAgent, type AgentContext } from '../lib/agent-runtime.ts';
import { preparedMessages } from '../lib/payload.ts';

interface PublishArgs {
  readonly op: 'publish';
  readonly mode: 'js' | 'core';
  readonly natsUrl: string;
  readonly scheme: { root: string; partitions: number };
  readonly idPrefix: string;
  readonly count: number;
  readonly window: number;
  /** Event time of reading 0 (ms). */
  readonly start?: number;
}

interface ConsumeArgs {
  readonly op: 'consume';
  readonly mode: 'ack-each' | 'ack-batch' | 'ordered';
  readonly natsUrl: string;
  readonly stream: string;
  readonly count: number;
  readonly ackEvery: number;
  readonly pull: number;
}

type Args = PublishArgs | ConsumeArgs;

let conn: { url: string; nc: NatsConnection } | undefined;
async function nats(url: string): Promise<NatsConnection> {
  if (conn?.url !== url) conn = { url, nc: await connect({ servers: url.split(','), name: 'tideway-bench-raw', noAsyncTraces: true }) };
  return conn.nc;
}

async function publish(args: PublishArgs, ctx: AgentContext): Promise<object> {
  const nc = await nats(args.natsUrl);
  const messages = preparedMessages(args.scheme, args.idPrefix, args.count, args.start);
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let duplicates = 0;
  await ctx.mark('begin');
  const started = performance.now();
  const progress = setInterval(() => ctx.progress(`${acked}/${args.count} acked`), 2000);
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      if (acked + failed === args.count) resolve();
      else pump();
    };
    let pump: () => void;
    if (args.mode === 'js') {
      const js = jetstream(nc);
      pump = () => {
        while (sent - acked - failed < args.window && sent < args.count) {
          const m = messages[sent++]!;
          js.publish(m.subject, m.payload, { msgID: m.msgId }).then(
            (ack) => {
              acked++;
              if (ack.duplicate) duplicates++;
              done();
            },
            (error: unknown) => {
              failed++;
              if (failed === 1) reject(error instanceof Error ? error : new Error(String(error)));
            },
          );
        }
      };
    } else {
      // The minimal JetStream publisher: one wildcard reply subscription, PubAcks counted by a byte check.
      const inbox = createInbox();
      nc.subscribe(`${inbox}.*`, {
        callback: (_err, msg: Msg) => {
          const body = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
          if (body.includes('"error"')) failed++;
          else {
            acked++;
            if (body.includes('"duplicate":true')) duplicates++;
          }
          done();
        },
      });
      pump = () => {
        while (sent - acked - failed < args.window && sent < args.count) {
          const i = sent++;
          const m = messages[i]!;
          const h = headers();
          h.set('Nats-Msg-Id', m.msgId);
          nc.publish(m.subject, m.payload, { reply: `${inbox}.${i}`, headers: h });
        }
      };
    }
    pump();
  });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(progress);
  await ctx.mark('end');
  return { count: args.count, acked, failed, duplicates, seconds, rate: acked / seconds };
}

async function consume(args: ConsumeArgs, ctx: AgentContext): Promise<object> {
  const nc = await nats(args.natsUrl);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  let name: string | undefined;
  if (args.mode !== 'ordered') {
    name = `bench_${args.mode.replace('-', '_')}_${Date.now()}`;
    await jsm.consumers.add(args.stream, {
      durable_name: name,
      ack_policy: args.mode === 'ack-each' ? AckPolicy.Explicit : AckPolicy.All,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 20_000,
      ack_wait: 30_000_000_000,
    });
  }
  const consumer = await js.consumers.get(args.stream, name);
  let received = 0;
  await ctx.mark('begin');
  const started = performance.now();
  const progress = setInterval(() => ctx.progress(`${received}/${args.count} consumed`), 2000);
  await new Promise<void>((resolve, reject) => {
    const every = args.mode === 'ack-each' ? 1 : args.ackEvery;
    const onMessage = (m: JsMsg): void => {
      received++;
      if (args.mode !== 'ordered' && (received % every === 0 || received === args.count)) m.ack();
      if (received === args.count) resolve();
    };
    consumer.consume({ max_messages: args.pull, callback: onMessage }).then((messages) => {
      void messages.closed().then(() => {
        if (received < args.count) reject(new Error(`consumer closed after ${received} messages`));
      });
      const check = setInterval(() => {
        if (received >= args.count) {
          clearInterval(check);
          void messages.close();
        }
      }, 5);
    }, reject);
  });
  await nc.flush();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(progress);
  await ctx.mark('end');
  if (name) await jsm.consumers.delete(args.stream, name);
  return { count: received, seconds, rate: received / seconds };
}

serveAgent<Args>((args, ctx) => (args.op === 'publish' ? publish(args, ctx) : consume(args, ctx)));
