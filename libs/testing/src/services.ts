/** Placeholder: assumes the servers listen on their standard ports. */
export async function ensureServices(): Promise<{ env: Record<string, string>; stop: () => Promise<void> }> {
  return {
    env: {
      NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
      DATABASE_URL: process.env['DATABASE_URL'] ?? 'postgres://root@127.0.0.1:5432/test',
      REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    },
    stop: async () => {},
  };
}
