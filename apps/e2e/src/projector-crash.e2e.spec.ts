import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@tideway/testing';
import { WarmProjection } from '@tideway/warm';
import { postEvents, sensorEvents, startPlatform, waitForWarmCount, type Platform } from './platform.ts';

describe('warm projector crash safety', () => {
  let platform: Platform;
  beforeAll(async () => {
    platform = await startPlatform({ projector: false });
    // small batches make the projector take a while, so the kill lands mid-stream
    platform.env['PROJECTOR_BATCH'] = '25';
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
  });

  async function post(events: Record<string, unknown>[]): Promise<string[]> {
    const acked: string[] = [];
    for (let i = 0; i < events.length; i += 500) {
      const res = await postEvents(platform, events.slice(i, i + 500));
      expect(res.status).toBe(202);
      acked.push(...res.body.results.map((r: { id: string }) => r.id));
    }
    return acked;
  }

  it('a projector killed with SIGKILL mid-stream and restarted holds exactly the acknowledged events', async () => {
    const writer = new WarmProjection(platform.store);
    const first = await post(sensorEvents(6000, 'a'));

    for (let round = 0; round < 3; round++) {
      const child = platform.spawnProjector();
      const before = await writer.checkpoint();
      await waitFor(async () => (await writer.checkpoint()) > before + 100 + Math.floor(Math.random() * 300), { timeoutMs: 30_000, intervalMs: 20 });
      child.kill('SIGKILL');
      await once(child, 'exit');
      const atKill = await writer.checkpoint();
      expect(atKill).toBeLessThan(6000); // killed mid-stream, not after the end
    }
    // more events arrive while no projector runs
    const second = await post(sensorEvents(2000, 'b'));

    await platform.startProjector();
    await waitForWarmCount(platform, 8000, 60_000);
    await new Promise((r) => setTimeout(r, 300));

    const rows = await platform.store.sql<{ id: string; n: number }[]>`select id, count(*)::int as n from events group by id`;
    expect(rows.length).toBe(8000);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set([...first, ...second]));
    expect(await writer.checkpoint()).toBe(8000);
  }, 120_000);
});
