import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { TidewayError } from '@tideway/events';
import { compression } from './compress.ts';
import { positionAtLeast, tenantOf } from './context.ts';
import type { TailMessage, TailSubscription } from './live-tail.ts';
import { sseBody } from './routes/stream.ts';

function subscription(count: number): TailSubscription & { closed: boolean } {
  const state = { closed: false };
  async function* messages(): AsyncGenerator<TailMessage> {
    for (let seq = 1; seq <= count && !state.closed; seq++) {
      yield { seq, subject: 't.evt.default.0.x', json: () => ({ id: `e${seq}`, tenant: 'default', type: 'x', source: 's' }) };
      await new Promise((r) => setImmediate(r));
    }
  }
  return {
    get closed() {
      return state.closed;
    },
    messages: messages(),
    close: async () => {
      state.closed = true;
    },
  };
}

describe('live tail body', () => {
  it('disconnects a client that leaves its bounded buffer full, and stops its subscription', async () => {
    const sub = subscription(10_000);
    let reason = '';
    const body = sseBody(sub, () => true, { heartbeatMs: 60_000, buffer: 5, slowClientMs: 100, maxClients: 1 }, { firstFrame: ': hi\n\n', onClose: (r) => (reason = r) });
    await new Promise((r) => setTimeout(r, 400)); // nobody reads
    expect(reason).toMatch(/slow client/);
    expect(sub.closed).toBe(true);
    const reader = body.getReader();
    const frames: string[] = [];
    await expect(
      (async () => {
        for (;;) {
          const next = await reader.read();
          if (next.done) return;
          frames.push(new TextDecoder().decode(next.value));
        }
      })(),
    ).rejects.toThrow(/slow client/);
    expect(frames.length).toBeLessThanOrEqual(6); // never more than the buffer (+ the first frame)
  });

  it('streams every accepted event to a client that reads, with ids', async () => {
    const sub = subscription(50);
    const body = sseBody(sub, (e) => Number(String(e.id).slice(1)) % 2 === 0, { heartbeatMs: 60_000, buffer: 3, slowClientMs: 1_000, maxClients: 1 }, { firstFrame: ': hi\n\n', onClose: () => {} });
    const text = await new Response(body).text();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => (i + 1) * 2));
  });
});

describe('tenantOf', () => {
  const context = (principal?: object) => ({ get: (k: string) => (k === 'principal' ? principal : undefined) }) as never;
  it('takes the key’s tenant, refuses another, and falls back to the parameter or default without a key', () => {
    expect(tenantOf(context({ tenant: 'acme' }), undefined, 'default')).toBe('acme');
    expect(tenantOf(context({ tenant: 'acme' }), 'acme', 'default')).toBe('acme');
    expect(() => tenantOf(context({ tenant: 'acme' }), 'other', 'default')).toThrow(TidewayError);
    expect(tenantOf(context({ tenant: 'default', anonymous: true }), 'other', 'default')).toBe('other');
    expect(tenantOf(context(), undefined, 'default')).toBe('default');
  });
});

describe('read-your-writes wait', () => {
  it('resolves once the projection reaches min_seq and fails with the lag after the bound', async () => {
    let seq = 0;
    const clock = async () => ({ projection: 'p', seq: seq++ });
    expect((await positionAtLeast(clock, 3, 1_000)).seq).toBeGreaterThanOrEqual(3);
    const stuck = async () => ({ projection: 'p', seq: 7 });
    await expect(positionAtLeast(stuck, 10, 50)).rejects.toMatchObject({ code: 'store-unavailable', details: { lag: 3, applied_seq: 7 } });
  });
});

describe('compression', () => {
  const app = new Hono();
  app.use('*', compression());
  app.get('/big', (c) => c.json({ text: 'x'.repeat(5000) }));
  app.get('/small', (c) => c.json({ ok: true }));
  app.get('/sse', (c) => c.body('data: x\n\n'.repeat(500), 200, { 'content-type': 'text/event-stream' }));

  it('prefers br, falls back to gzip, and leaves small bodies and event streams alone', async () => {
    expect((await app.request('/big', { headers: { 'accept-encoding': 'gzip, br' } })).headers.get('content-encoding')).toBe('br');
    expect((await app.request('/big', { headers: { 'accept-encoding': 'gzip, br;q=0.5' } })).headers.get('content-encoding')).toBe('gzip');
    expect((await app.request('/big', { headers: { 'accept-encoding': 'identity' } })).headers.get('content-encoding')).toBeNull();
    expect((await app.request('/small', { headers: { 'accept-encoding': 'br' } })).headers.get('content-encoding')).toBeNull();
    expect((await app.request('/sse', { headers: { 'accept-encoding': 'br' } })).headers.get('content-encoding')).toBeNull();
    const zipped = await app.request('/big', { headers: { 'accept-encoding': 'gzip' } });
    const plain = await new Response(zipped.body!.pipeThrough(new DecompressionStream('gzip'))).json();
    expect(plain).toEqual({ text: 'x'.repeat(5000) });
  });
});
