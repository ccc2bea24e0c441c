/**
 * The start-from-binaries path, on free ports so the servers already running on the standard ports are left alone.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import {
  createS3Client,
  ensureServices,
  freePort,
  isListening,
  startNatsServer,
  startPostgresCluster,
  startRedisServer,
  startS3rver,
  waitFor,
} from './index.ts';

async function expectStopped(port: number, dir: string): Promise<void> {
  expect(await isListening('127.0.0.1', port)).toBe(false);
  expect(existsSync(dir)).toBe(false);
}

describe('startNatsServer', () => {
  it('starts nats-server with JetStream on a free port and stops it', async () => {
    const port = await freePort();
    const server = await startNatsServer({ port });
    try {
      expect(server.url).toBe(`nats://127.0.0.1:${port}`);
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'PROBE', subjects: ['probe.>'] });
      const js = jsm.jetstream();
      const ack = await js.publish('probe.one', 'hi');
      expect(ack.seq).toBe(1);
      await nc.close();
    } finally {
      await server.stop();
    }
    await expectStopped(port, server.dir);
  });

  it('refuses a port something else listens on, rather than mistaking it for the server', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      await expect(startNatsServer({ port })).rejects.toThrow(
        `cannot start nats-server: port ${port} on 127.0.0.1 is already in use`,
      );
    } finally {
      blocker.close();
    }
  });

  it('fails with an error naming the binary and quoting its output when it exits at start', async () => {
    const port = await freePort();
    await expect(startNatsServer({ port, binary: '/bin/ls' })).rejects.toThrow(
      /nats-server \(\/bin\/ls\) exited with exit code 2 before listening on port \d+:\n.*invalid option/s,
    );
  });
});

describe('startRedisServer', () => {
  it('starts redis-server on a free port and stops it', async () => {
    const port = await freePort();
    const server = await startRedisServer({ port });
    try {
      const redis = new Redis(server.url);
      expect(await redis.set('k', 'v')).toBe('OK');
      expect(await redis.get('k')).toBe('v');
      expect(await redis.config('GET', 'save')).toEqual(['save', '']);
      redis.disconnect();
    } finally {
      await server.stop();
    }
    await expectStopped(port, server.dir);
  });

  it('fails with an error naming the binary when it is missing', async () => {
    const port = await freePort();
    await expect(startRedisServer({ port, binary: '/nonexistent/redis-server' })).rejects.toThrow(
      /could not start redis-server \(\/nonexistent\/redis-server\)/,
    );
  });

  it('is stopped by the watchdog when the process that started it is killed', async () => {
    const port = await freePort();
    const services = path.join(path.dirname(fileURLToPath(import.meta.url)), 'services.ts');
    const script = `import { startRedisServer } from ${JSON.stringify(services)};
      const s = await startRedisServer({ port: ${port} });
      console.log('ready ' + s.dir);
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const signal = await new Promise((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    expect(signal).toBe('SIGKILL');
    const dir = /ready (\S+)/.exec(out)?.[1];
    expect(dir).toBeDefined();
    await waitFor(async () => !(await isListening('127.0.0.1', port)) && !existsSync(dir!), {
      timeoutMs: 15_000,
      description: `orphaned redis-server on port ${port} stopped and ${dir} removed`,
    });
  });
});

describe('startPostgresCluster', () => {
  it('creates a throwaway cluster with the database on a free port and removes it on stop', async () => {
    const port = await freePort();
    const server = await startPostgresCluster({ port });
    try {
      expect(server.url).toBe(`postgres://root@127.0.0.1:${port}/test`);
      const sql = postgres(server.url, { max: 1, onnotice: () => {} });
      const [row] = await sql`select current_database() as db, current_user as "user", current_setting('port') as port`;
      expect(row).toEqual({ db: 'test', user: 'root', port: String(port) });
      await sql.end();
    } finally {
      await server.stop();
    }
    await expectStopped(port, server.dir);
  });
});

describe('startS3rver', () => {
  it('serves S3 on a free port with access key S3RVER and stops', async () => {
    const server = await startS3rver();
    try {
      const client = createS3Client({
        S3_ENDPOINT: server.endpoint,
        S3_ACCESS_KEY: server.accessKey,
        S3_SECRET_KEY: server.secretKey,
        S3_REGION: server.region,
      });
      await client.makeBucket('probe', server.region);
      expect((await client.listBuckets()).map((b) => b.name)).toEqual(['probe']);
    } finally {
      await server.stop();
    }
    await expectStopped(server.port, server.dir);
  });
});

describe('ensureServices', () => {
  it('starts every server nothing listens for, and stops only those', async () => {
    const [nats, pg, redis] = [await freePort(), await freePort(), await freePort()];
    const services = await ensureServices({
      env: {
        NATS_URL: `nats://127.0.0.1:${nats}`,
        DATABASE_URL: `postgres://root@127.0.0.1:${pg}/itest`,
        REDIS_URL: `redis://127.0.0.1:${redis}`,
      },
    });
    try {
      expect(services.env).toMatchObject({
        NATS_URL: `nats://127.0.0.1:${nats}`,
        DATABASE_URL: `postgres://root@127.0.0.1:${pg}/itest`,
        REDIS_URL: `redis://127.0.0.1:${redis}`,
        S3_ACCESS_KEY: 'S3RVER',
        S3_SECRET_KEY: 'S3RVER',
        S3_REGION: 'us-east-1',
      });
      expect(services.env['S3_ENDPOINT']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const sql = postgres(services.env['DATABASE_URL']!, { max: 1 });
      expect(await sql`select current_database() as db`).toEqual([{ db: 'itest' }]);
      await sql.end();
      for (const port of [nats, pg, redis]) expect(await isListening('127.0.0.1', port)).toBe(true);
    } finally {
      await services.stop();
    }
    const s3Port = Number(new URL(services.env['S3_ENDPOINT']!).port);
    for (const port of [nats, pg, redis, s3Port]) expect(await isListening('127.0.0.1', port)).toBe(false);
  });

  it('uses servers that already listen and leaves them running', async () => {
    const running = await startRedisServer({ port: await freePort() });
    try {
      const nats = await startNatsServer({ port: await freePort() });
      try {
        const services = await ensureServices({
          env: { NATS_URL: nats.url, REDIS_URL: running.url, DATABASE_URL: process.env['DATABASE_URL'] },
        });
        await services.stop();
        expect(await isListening('127.0.0.1', running.port)).toBe(true);
        expect(await isListening('127.0.0.1', nats.port)).toBe(true);
      } finally {
        await nats.stop();
      }
    } finally {
      await running.stop();
    }
  });
});
