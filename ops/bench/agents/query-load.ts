/**
 * Query latency: loads a dataset of sensor readings straight into a migrated warm schema with COPY (events spread
 * over ten days, plus one entity_state row per device), then times sequential requests to the query API: entity
 * state (`GET /v1/entities/device/{id}`) and a one-hour page of events (`GET /v1/events?from&to`, newest first).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import http from 'node:http';
import postgres from 'postgres';
import { partitionNameFor } from '@tideway/warm';
import { serveAgent, type AgentContext } from '../lib/agent-runtime.ts';
import { percentiles } from '../lib/stats.ts';

interface LoadArgs {
  readonly op: 'load';
  readonly databaseUrl: string;
  readonly schema: string;
  readonly events: number;
  readonly devices: number;
  readonly start: number;
  readonly days: number;
}

interface QueryArgs {
  readonly op: 'query';
  readonly url: string;
  readonly kind: 'entity' | 'page';
  readonly requests: number;
  readonly devices: number;
  readonly start: number;
  readonly days: number;
}

const device = (i: number): string => `sensor-${String(i).padStart(4, '0')}`;

async function load(args: LoadArgs, ctx: AgentContext): Promise<object> {
  const sql = postgres(args.databaseUrl, { max: 1, onnotice: () => {}, connection: { search_path: args.schema } });
  try {
    const spanMs = args.days * 86_400_000;
    for (let d = 0; d <= args.days; d++) {
      const from = new Date(args.start + d * 86_400_000);
      const name = partitionNameFor(from);
      await sql.unsafe(`create table if not exists "${name}" partition of events for values from ('${from.toISOString()}') to ('${new Date(from.getTime() + 86_400_000).toISOString()}')`);
    }
    const started = performance.now();
    const step = spanMs / args.events;
    const writable = await sql`copy events (seq, tenant, id, source, type, subject, time, recorded_time, partition_key, entity_type, entity_id, attributes, data) from stdin`.writable();
    let written = 0;
    await pipeline(
      Readable.from(
        (function* () {
          for (let i = 0; i < args.events; i += 2000) {
            let chunk = '';
            for (let k = i; k < Math.min(args.events, i + 2000); k++) {
              const dev = device(k % args.devices);
              const time = new Date(args.start + Math.floor(k * step)).toISOString();
              const attributes = `{"specversion":"1.0","id":"q-${k}","source":"urn:tideway:demo:sensors","type":"iot.sensor.reading","subject":"${dev}","time":"${time}","tenant":"default","partitionkey":"${dev}","datacontenttype":"application/json","recordedtime":"${time}"}`;
              const data = `{"device_id":"${dev}","reading_value":${20 + ((k * 7919) % 6000) / 100},"unit":"celsius"}`;
              chunk += `${k + 1}\tdefault\tq-${k}\turn:tideway:demo:sensors\tiot.sensor.reading\t${dev}\t${time}\t${time}\t${dev}\tdevice\t${dev}\t${attributes}\t${data}\n`;
            }
            written = Math.min(args.events, i + 2000);
            if (written % 100_000 === 0) ctx.progress(`loaded ${written}/${args.events} events`);
            yield chunk;
          }
        })(),
      ),
      writable,
    );
    const states = Array.from({ length: args.devices }, (_, i) => ({
      tenant: 'default',
      entity_type: 'device',
      entity_id: device(i),
      state: JSON.stringify({ last_value: 42.5, last_time: new Date(args.start + spanMs).toISOString(), last_seq: args.events - args.devices + i, count: Math.floor(args.events / args.devices), sum: 1, min: 20, max: 80, mean: 50, ewma: 50 }),
      last_seq: args.events - args.devices + i,
    }));
    for (let i = 0; i < states.length; i += 1000) await sql`insert into entity_state ${sql(states.slice(i, i + 1000))}`;
    await sql`insert into projection_checkpoints (projection, seq) values ('warm-events', ${args.events}) on conflict (projection) do update set seq = excluded.seq`;
    ctx.progress('analyze');
    await sql`analyze`;
    return { events: args.events, seconds: (performance.now() - started) / 1000 };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function get(agent: http.Agent, url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function query(args: QueryArgs, ctx: AgentContext): Promise<object> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let seed = 12345;
  const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const target = (): string => {
    if (args.kind === 'entity') return `${args.url}/v1/entities/device/${device(Math.floor(random() * args.devices))}`;
    const hourStart = args.start + Math.floor(random() * (args.days * 24 - 1)) * 3_600_000;
    return `${args.url}/v1/events?from=${new Date(hourStart).toISOString()}&to=${new Date(hourStart + 3_600_000).toISOString()}&limit=100`;
  };
  const latencies: number[] = [];
  let bytes = 0;
  await ctx.mark('begin');
  const started = performance.now();
  for (let i = 0; i < args.requests; i++) {
    const url = target();
    const t0 = performance.now();
    const res = await get(agent, url);
    latencies.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
    bytes += res.bytes;
    if (i % 500 === 0) ctx.progress(`${i}/${args.requests} requests`);
  }
  const seconds = (performance.now() - started) / 1000;
  await ctx.mark('end');
  agent.destroy();
  return { ...percentiles(latencies), seconds, rate: args.requests / seconds, meanBytes: Math.round(bytes / args.requests) };
}

serveAgent<LoadArgs | QueryArgs>((args, ctx) => (args.op === 'load' ? load(args, ctx) : query(args, ctx)));
