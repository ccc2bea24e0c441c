import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DerivedEventType, type EventEnvelope, type WindowResultData } from '@tideway/events';
import { sensorFixture, sensorPipelineFixture } from '@tideway/pipeline/internal';
import { waitFor } from '@tideway/testing';
import { createTestbed, type Testbed } from './testbed.ts';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/** A webhook receiver that answers 503 to the first `failures` requests, then 200. */
async function webhook(failures: number): Promise<{ url: string; received: Received[]; attempts: () => number; server: Server }> {
  const received: Received[] = [];
  let attempts = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      attempts++;
      if (attempts <= failures) {
        res.writeHead(503).end('try later');
        return;
      }
      received.push({ headers: req.headers, body: JSON.parse(body) as unknown });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/alerts`, received, attempts: () => attempts, server };
}

describe('processor live mode', () => {
  let testbed: Testbed;
  beforeAll(async () => {
    testbed = await createTestbed(sensorPipelineFixture);
  });
  afterAll(async () => {
    await testbed?.[Symbol.asyncDispose]();
  });

  it('posts every alert to the webhook as Slack-compatible JSON, retrying failed posts', async () => {
    const hook = await webhook(2);
    await testbed.publish(sensorFixture({ scheme: testbed.scheme, devices: 8, readings: 260, seed: 3, bad: false }));
    const processor = await testbed.start({ PROCESSOR_WEBHOOK_URL: hook.url, PROCESSOR_WEBHOOK_BACKOFF_MS: '10' });
    try {
      await testbed.caughtUp();
      const alerts = (await testbed.read('DERIVED')).map((m) => JSON.parse(m.data) as EventEnvelope).filter((e) => e.type === DerivedEventType.AlertRaised);
      expect(alerts.length).toBeGreaterThan(0);
      await waitFor(() => hook.received.length >= alerts.length, { timeoutMs: 30_000, description: 'every alert posted' });
      expect(hook.attempts()).toBe(alerts.length + 2); // two failed attempts, retried
      expect(new Set(hook.received.map((r) => r.headers['idempotency-key']))).toEqual(new Set(alerts.map((a) => a.id)));
      for (const r of hook.received) {
        expect(Object.keys(r.body as object)).toEqual(['text']);
        expect((r.body as { text: string }).text).toMatch(/^:rotating_light: Anomaly in pipeline sensor-readings: sensor-\d{3} \(tenant acme\) reported /);
      }
      const metrics = await (await fetch(`http://127.0.0.1:${processor.port}/metrics`)).text();
      expect(metrics).toMatch(/tideway_processor_notifications_total\{[^}]*outcome="retry"[^}]*\} 2/);
      expect(metrics).toMatch(new RegExp(`tideway_processor_notifications_total\\{[^}]*outcome="sent"[^}]*\\} ${alerts.length}\\n`));
    } finally {
      await processor.close();
      hook.server.close();
    }
  });

  it('publishes provisional results for the open windows of a quiet partition, without changing the final ones', async () => {
    const before = new Set((await testbed.read('DERIVED')).map((m) => (JSON.parse(m.data) as EventEnvelope).id));
    // a burst for one device, then silence: its last window stays open (event time does not move)
    const burst = sensorFixture({ scheme: testbed.scheme, devices: 1, readings: 20, seed: 8, bad: false, start: Date.UTC(2026, 1, 1, 12, 0, 0), idPrefix: 'quiet-' });
    await testbed.publish(burst);
    const processor = await testbed.start({ PROCESSOR_PROVISIONAL_AFTER_MS: '300' });
    let provisional: WindowResultData[] = [];
    try {
      await testbed.caughtUp();
      provisional = await waitFor(
        async () => {
          const found = (await testbed.read('DERIVED'))
            .map((m) => JSON.parse(m.data) as EventEnvelope)
            .filter((e) => !before.has(e.id) && e.type === DerivedEventType.WindowResult && (e.data as WindowResultData).provisional)
            .map((e) => e.data as WindowResultData);
          return found.length > 0 ? found : undefined;
        },
        { timeoutMs: 20_000, description: 'a provisional window result' },
      );
    } finally {
      await processor.close();
    }
    expect(provisional.every((p) => !p.final && p.trigger === 'idle' && p.key === 'sensor-000')).toBe(true);
    const open = provisional[0]!;
    // the window's real result comes once event time moves past it, with every reading of it
    await testbed.publish(sensorFixture({ scheme: testbed.scheme, devices: 1, readings: 1, seed: 9, bad: false, start: Date.UTC(2026, 1, 1, 13, 0, 0), idPrefix: 'later-' }));
    const again = await testbed.start();
    try {
      await testbed.caughtUp();
    } finally {
      await again.close();
    }
    const finals = (await testbed.read('DERIVED'))
      .map((m) => (JSON.parse(m.data) as EventEnvelope).data as WindowResultData)
      .filter((d) => d.final && d.key === open.key && d.window.start === open.window.start);
    expect(finals).toHaveLength(1);
    expect(finals[0]!.count).toBeGreaterThanOrEqual(open.count);
    expect(finals[0]!.provisional).toBe(false);
  });
});
