import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { Counter, Histogram, type Registry } from 'prom-client';
import { ErrorCode, TidewayError } from '@tideway/events';
import type { Logger } from './logger.ts';
import { problemResponse } from './problem.ts';

/** A named readiness check: resolves true when the dependency can serve traffic. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export interface ServiceAppOptions {
  readonly name: string;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly readiness: Readonly<Record<string, ReadinessCheck>>;
}

/**
 * The Hono app every Tideway service starts from: `/healthz` (the process is alive), `/readyz` (every
 * dependency is usable; 503 with the failing ones otherwise), `/metrics` (Prometheus text), request metrics,
 * JSON access logs, and a single error handler that renders RFC 9457 problem+json.
 */
export function createServiceApp(options: ServiceAppOptions): Hono {
  const app = new Hono();
  const requests = new Counter({
    name: 'tideway_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [options.metrics],
  });
  const latency = new Histogram({
    name: 'tideway_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [options.metrics],
  });

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || 'unmatched';
    const seconds = (performance.now() - started) / 1000;
    requests.inc({ method: c.req.method, route, status: String(c.res.status) });
    latency.observe({ method: c.req.method, route }, seconds);
    if (c.res.status >= 500) options.logger.warn({ method: c.req.method, path: c.req.path, status: c.res.status }, 'request failed');
  });

  app.get('/healthz', (c) => c.json({ status: 'ok', service: options.name }));
  app.get('/readyz', async (c) => {
    const checks: Record<string, boolean> = {};
    for (const [name, check] of Object.entries(options.readiness)) {
      try {
        checks[name] = await check();
      } catch {
        checks[name] = false;
      }
    }
    const ready = Object.values(checks).every(Boolean);
    return c.json({ status: ready ? 'ready' : 'not-ready', checks }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.text(await options.metrics.metrics(), 200, { 'content-type': options.metrics.contentType }));

  app.notFound((c) => problemResponse(c, new TidewayError(ErrorCode.NotFound, `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    if (!(error instanceof TidewayError)) options.logger.error({ err: error, path: c.req.path }, 'unhandled error');
    return problemResponse(c, error);
  });
  return app;
}

/** How long a service keeps an idle keep-alive connection open (announced as `Keep-Alive: timeout=65`). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface RunningService {
  readonly server: ServerType;
  readonly port: number;
  /** Stops accepting connections, waits for in-flight requests, then runs the cleanup hooks in order. */
  close(): Promise<void>;
}

/**
 * Listens on `port` (0 picks a free port) and wires graceful shutdown: on SIGTERM/SIGINT the server stops
 * accepting, in-flight requests finish, then `onShutdown` drains the service's own work.
 */
export async function listen(
  app: Hono,
  options: { port: number; hostname?: string; logger: Logger; onShutdown?: () => Promise<void>; handleSignals?: boolean },
): Promise<RunningService> {
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: options.hostname ?? '0.0.0.0' }, () => resolve(s));
  });
  // Node closes an idle keep-alive connection after 5 s. A producer that reuses a pooled connection just as the
  // server closes it gets a reset ("socket hang up") for a request that was never read, and a load balancer in
  // front with a longer idle timeout than ours makes that common. Idle connections are kept for longer than the
  // usual balancer's 60 s, so the client side closes first; the header timeout must exceed it.
  if ('keepAliveTimeout' in server) {
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await options.onShutdown?.();
    })());
  if (options.handleSignals !== false) {
    const onSignal = (signal: NodeJS.Signals): void => {
      options.logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => process.exit(1), 15_000);
      timer.unref();
      close().then(
        () => process.exit(0),
        (error: unknown) => {
          options.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  options.logger.info({ port }, 'listening');
  return { server, port, close };
}
