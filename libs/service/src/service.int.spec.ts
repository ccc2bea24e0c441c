import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { createMetricsRegistry } from './metrics.ts';
import { createServiceApp, KEEP_ALIVE_TIMEOUT_MS, listen, type RunningService } from './service.ts';

function get(agent: http.Agent, port: number, path: string): Promise<{ status: number; keepAlive: string | undefined; socket: object }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ agent, host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, keepAlive: res.headers['keep-alive'] as string | undefined, socket: req.socket! }));
    });
    req.on('error', reject);
  });
}

describe('listen', () => {
  let service: RunningService;
  let connections = 0;
  beforeAll(async () => {
    const app = createServiceApp({ name: 'keepalive-test', logger: createLogger('keepalive-test', 'silent'), metrics: createMetricsRegistry('keepalive-test'), readiness: {} });
    service = await listen(app, { port: 0, hostname: '127.0.0.1', logger: createLogger('keepalive-test', 'silent'), handleSignals: false });
    service.server.on('connection', () => connections++);
  });
  afterAll(async () => {
    await service.close();
  });

  // Node's default closes idle connections after 5 s, racing producers that reuse pooled connections (a request
  // sent as the server closes its socket fails with "socket hang up" without ever being read).
  it('keeps an idle keep-alive connection past Node’s 5 s default, and says for how long', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, service.port, '/healthz');
      expect(first.status).toBe(200);
      expect(first.keepAlive).toBe(`timeout=${KEEP_ALIVE_TIMEOUT_MS / 1000}`);
      await new Promise((r) => setTimeout(r, 5_500));
      const second = await get(agent, service.port, '/healthz');
      expect(second.status).toBe(200);
      expect(second.socket).toBe(first.socket);
      expect(connections).toBe(1);
    } finally {
      agent.destroy();
    }
  });
});
