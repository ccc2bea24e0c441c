import { connect, type NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectionOptions {
  /** Comma-separated or array of server URLs, e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[];
  /** Client name shown in the server's connection list. */
  readonly name: string;
}

/** A NATS connection plus whether it is currently connected (it reconnects forever on its own). */
export interface TrackedNatsConnection {
  readonly nc: NatsConnection;
  /** True while connected; false between a disconnect and the next reconnect, and after close. */
  readonly connected: () => boolean;
}

/**
 * Connects with settings for a long-lived service: reconnect forever, and no async stack traces (building an
 * Error per publish halves nats.js publish throughput).
 */
export async function connectNats(options: NatsConnectionOptions): Promise<TrackedNatsConnection> {
  const servers = typeof options.servers === 'string' ? options.servers.split(',') : [...options.servers];
  const nc = await connect({
    servers,
    name: options.name,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5_000,
    maxPingOut: 2,
  });
  let up = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnecting' || status.type === 'close') up = false;
      else if (status.type === 'reconnect') up = true;
    }
  })();
  void nc.closed().then(() => {
    up = false;
  });
  return { nc, connected: () => up && !nc.isClosed() };
}
