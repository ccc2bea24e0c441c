/**
 * Helpers of the gateway e2e tests (`gateway-*.e2e.spec.ts`): keys, raw HTTP, and reading streams back.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type MsgHdrs } from '@nats-io/transport-node';
import { ApiKeyStore, openAuthStore, type Scope } from '@tideway/auth';
import { streamName } from '@tideway/nats';
import { startPlatform, type Platform, type PlatformOptions } from './platform.ts';

/** The platform with API keys required (and no projector unless asked). */
export function startGateway(options: PlatformOptions = {}): Promise<Platform> {
  return startPlatform({ projector: false, ...options, env: { TIDEWAY_AUTH: 'required', ...options.env } });
}

/** Creates a key in the platform's key table, as `tideway keys create` does. */
export async function createKey(platform: Platform, tenant: string, scopes: Scope[]): Promise<string> {
  const store = openAuthStore({ url: platform.env['DATABASE_URL']!, schema: platform.env['DATABASE_SCHEMA']!, max: 1 });
  try {
    return (await new ApiKeyStore(store).create({ tenant, scopes, name: 'test' })).key;
  } finally {
    await store.close();
  }
}

/** A response with its body parsed (JSON when it is JSON). */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/** Sends a request and reads the whole answer. */
export async function send(url: string, init: RequestInit & { key?: string } = {}): Promise<Reply> {
  const headers = new Headers(init.headers);
  if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
  const response = await fetch(url, { ...init, headers });
  const text = await response.text();
  let body: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') body = JSON.parse(text);
  return { status: response.status, headers: response.headers, body };
}

/** POSTs a JSON value with a key. */
export function postJson(url: string, body: unknown, key: string, contentType = 'application/json'): Promise<Reply> {
  return send(url, { method: 'POST', key, headers: { 'content-type': contentType }, body: JSON.stringify(body) });
}

/** One message read back from a stream. */
export interface StreamMessage {
  readonly seq: number;
  readonly subject: string;
  readonly headers: MsgHdrs | undefined;
  readonly data: any;
}

/** Every message of one of the platform's streams (`EVENTS`, `QUARANTINE`), in order. */
export async function readStream(
  platform: Platform,
  base: string,
  natsUrl = platform.env['NATS_URL']!,
): Promise<StreamMessage[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const name = streamName(base, platform.namespace);
    const jsm = await jetstreamManager(nc);
    const total = (await jsm.streams.info(name)).state.messages;
    const out: StreamMessage[] = [];
    if (total === 0) return out;
    const consumer = await jetstream(nc).consumers.get(name);
    const messages = await consumer.consume({ max_messages: 1000 });
    for await (const m of messages) {
      out.push({ seq: m.seq, subject: m.subject, headers: m.headers, data: m.json() });
      if (out.length >= total) break;
    }
    await messages.close();
    return out;
  } finally {
    await nc.close();
  }
}

/** The ids of the events in the EVENTS stream, with how often each occurs. */
export async function eventIdCounts(platform: Platform, natsUrl?: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const m of await readStream(platform, 'EVENTS', natsUrl)) {
    const key = `${m.data.source as string}|${m.data.id as string}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Number of messages in one of the platform's streams. */
export async function streamCount(platform: Platform, base: string): Promise<number> {
  const nc = await connect({ servers: platform.env['NATS_URL']! });
  try {
    return (await (await jetstreamManager(nc)).streams.info(streamName(base, platform.namespace))).state.messages;
  } finally {
    await nc.close();
  }
}
