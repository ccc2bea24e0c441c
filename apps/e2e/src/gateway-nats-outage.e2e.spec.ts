import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNatsServer, waitFor, type StartedServer } from '@tideway/testing';
import { createKey, readStream, startGateway } from './gateway-support.ts';
import type { Platform } from './platform.ts';

/**
 * NATS goes away during ingestion: producers get 503 with Retry-After (never 202 for an unstored event), everything
 * acknowledged survives, and the gateway recovers on its own when NATS is back. Runs against a private nats-server
 * (stopped and restarted on the same port and store dir), never the shared one.
 */
describe('NATS outage during ingestion', () => {
  let nats: StartedServer;
  let port: number;
  let storeDir: string;
  let platform: Platform;
  let key: string;

  beforeAll(async () => {
    port = await freePort();
    storeDir = await mkdtemp(join(tmpdir(), 'tideway-outage-'));
    nats = await startNatsServer({ port, dir: storeDir });
    platform = await startGateway({
      env: { NATS_URL: nats.url, INGEST_ACK_TIMEOUT_MS: '1000', INGEST_RATE_LIMIT_PER_SECOND: '0', LOG_LEVEL: 'error' },
    });
    key = await createKey(platform, 'acme', ['ingest']);
  }, 120_000);
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
    await nats?.stop();
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it('answers 503 while NATS is down, loses nothing acknowledged, and resumes by itself', async () => {
    const acked = new Set<string>();
    const refusals: { status: number; retryAfter: string | null; type: string }[] = [];
    let phase: 'before' | 'down' | 'after' = 'before';
    const acceptedIn = { before: 0, down: 0, after: 0 };
    let running = true;
    let next = 0;

    const producer = async (worker: number): Promise<void> => {
      while (running) {
        const batch = Array.from({ length: 20 }, () => {
          const i = next++;
          return {
            specversion: '1.0',
            id: `out-${worker}-${i}`,
            source: 'urn:test:outage',
            type: 'misc.outage',
            data: { i },
          };
        });
        const started = phase;
        try {
          const res = await fetch(`${platform.ingestUrl}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
            body: JSON.stringify(batch),
            signal: AbortSignal.timeout(15_000),
          });
          const body = (await res.json()) as { results?: { id: string }[]; type?: string };
          if (res.status === 202) {
            for (const r of body.results ?? []) acked.add(r.id);
            acceptedIn[started === 'down' && phase === 'down' ? 'down' : started === 'before' ? 'before' : 'after']++;
          } else {
            refusals.push({ status: res.status, retryAfter: res.headers.get('retry-after'), type: body.type ?? '' });
            await new Promise((r) => setTimeout(r, 100));
          }
        } catch (error) {
          refusals.push({ status: 0, retryAfter: null, type: String(error) });
        }
      }
    };
    const workers = [0, 1, 2, 3].map((w) => producer(w));

    await waitFor(() => acked.size >= 2_000, { timeoutMs: 60_000 });
    phase = 'down';
    await nats.stop();
    await waitFor(() => refusals.filter((r) => r.status === 503).length >= 20, { timeoutMs: 60_000 });
    const ready = await fetch(`${platform.ingestUrl}/readyz`);
    expect(ready.status).toBe(503);

    nats = await startNatsServer({ port, dir: storeDir });
    phase = 'after';
    const ackedAtRestart = acked.size;
    await waitFor(() => acked.size >= ackedAtRestart + 2_000, { timeoutMs: 60_000 });
    running = false;
    await Promise.all(workers);

    expect(refusals.length).toBeGreaterThanOrEqual(20);
    for (const r of refusals) {
      expect(r.status).toBe(503);
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.type).toMatch(/^https:\/\/tideway\.dev\/problems\/(publish-failed|overloaded)$/);
    }
    expect(acceptedIn.after).toBeGreaterThan(0);
    expect((await fetch(`${platform.ingestUrl}/readyz`)).status).toBe(200);

    const stored = await readStream(platform, 'EVENTS', nats.url);
    const ids = new Set(stored.map((m) => m.data.id as string));
    const lost = [...acked].filter((id) => !ids.has(id));
    console.log(
      `NATS outage: ${acked.size} events acknowledged (${acceptedIn.before} batches before, ${acceptedIn.after} after), ${refusals.length} requests refused with 503, ${stored.length} stored, ${lost.length} lost`,
    );
    expect(lost).toEqual([]);
    expect(ids.size).toBe(stored.length); // and nothing stored twice
  }, 180_000);
});
