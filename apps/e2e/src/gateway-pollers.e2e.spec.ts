import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@tideway/testing';
import { readStream, startGateway, streamCount } from './gateway-support.ts';
import { repoRoot, type Platform } from './platform.ts';

describe('pollers: a PostgreSQL table read incrementally, restarted mid-table', () => {
  let platform: Platform;
  let sql: postgres.Sql;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    platform = await startGateway();
    sql = postgres(platform.env['DATABASE_URL']!, {
      max: 1,
      onnotice: () => {},
      connection: { search_path: platform.env['DATABASE_SCHEMA']! },
    });
    await sql`create table legacy_orders (
      id integer primary key,
      order_id text not null,
      customer_id text not null,
      amount double precision not null,
      order_date date not null,
      updated_at timestamptz not null default now()
    )`;
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await sql?.end();
    await platform?.[Symbol.asyncDispose]();
  });

  const insert = async (from: number, to: number): Promise<void> => {
    // One statement: every row gets the same updated_at, so the key column must break the ties.
    await sql`insert into legacy_orders (id, order_id, customer_id, amount, order_date)
      select i, 'o-' || i, 'c-' || (i % 37), (i % 400) + 0.25, date '2025-03-01' + (i % 28)
      from generate_series(${from}::int, ${to}::int) as i`;
  };

  const spawnGateway = (): ChildProcess => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${repoRoot}apps/ingest/src/main.ts`], {
      env: {
        ...platform.env,
        INGEST_PORT: '0',
        LOG_LEVEL: 'error',
        INGEST_POLLERS: JSON.stringify([
          {
            name: 'legacy-orders',
            kind: 'postgres',
            tenant: 'acme',
            type: 'commerce.order.placed',
            table: 'legacy_orders',
            cursorColumn: 'updated_at',
            keyColumn: 'id',
            subjectColumn: 'customer_id',
            columns: ['order_id', 'customer_id', 'amount', 'order_date'],
            batchSize: 50,
            intervalMs: 50,
          },
        ]),
      },
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(child);
    return child;
  };

  it('publishes every row exactly once across a SIGKILL and new rows arriving meanwhile', async () => {
    await insert(1, 5_000);
    const first = spawnGateway();
    await waitFor(async () => (await streamCount(platform, 'EVENTS')) >= 1_500, { timeoutMs: 60_000, intervalMs: 20 });
    first.kill('SIGKILL');
    await once(first, 'exit');
    const atKill = await streamCount(platform, 'EVENTS');
    expect(atKill).toBeLessThan(5_000);

    await insert(5_001, 5_500);
    const second = spawnGateway();
    await waitFor(async () => (await streamCount(platform, 'EVENTS')) >= 5_500, { timeoutMs: 90_000 });
    // Let it poll a few more times: nothing more may appear.
    await new Promise((r) => setTimeout(r, 500));
    second.kill('SIGTERM');
    await once(second, 'exit');

    const events = await readStream(platform, 'EVENTS');
    expect(events).toHaveLength(5_500);
    const ids = events.map((m) => Number(m.data.id));
    expect(new Set(ids).size).toBe(5_500);
    expect(Math.min(...ids)).toBe(1);
    expect(Math.max(...ids)).toBe(5_500);
    expect(events.find((m) => m.data.id === '42')!.data).toMatchObject({
      source: '/pollers/legacy-orders',
      type: 'commerce.order.placed',
      tenant: 'acme',
      subject: 'c-5',
      data: { order_id: 'o-42', amount: 42.25, order_date: '2025-03-15T00:00:00.000Z' },
    });
    expect(await streamCount(platform, 'QUARANTINE')).toBe(0);
  }, 180_000);
});

describe('pollers: an HTTP API with a cursor and an ETag', () => {
  let platform: Platform;
  let server: Server;
  const records = Array.from({ length: 230 }, (_, i) => ({
    id: `r-${i + 1}`,
    seq: i + 1,
    device: `d-${i % 5}`,
    value: i,
  }));
  let visible = 150;
  const seen: { cursor: string | null; ifNoneMatch: string | undefined; status: number }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const after = Number(url.searchParams.get('after') ?? 0);
      const page = records.filter((r) => r.seq > after && r.seq <= visible).slice(0, 40);
      const etag = `"v${visible}-${after}"`;
      const status = req.headers['if-none-match'] === etag ? 304 : 200;
      seen.push({ cursor: url.searchParams.get('after'), ifNoneMatch: req.headers['if-none-match'], status });
      if (status === 304) return void res.writeHead(304).end();
      res.writeHead(200, { 'content-type': 'application/json', etag }).end(JSON.stringify({ data: page }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    platform = await startGateway({
      env: {
        INGEST_POLLERS: JSON.stringify([
          {
            name: 'readings-api',
            kind: 'http',
            url: `http://127.0.0.1:${port}/readings`,
            type: 'iot.sensor.reading.raw',
            itemsPointer: '/data',
            idPointer: '/id',
            subjectPointer: '/device',
            cursor: { param: 'after', from: 'item', pointer: '/seq' },
            intervalMs: 50,
            batchSize: 40,
          },
        ]),
      },
    });
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
    server?.close();
  });

  it('pages with the cursor, asks with If-None-Match once caught up, and picks up new records', async () => {
    await waitFor(async () => (await streamCount(platform, 'EVENTS')) >= 150, { timeoutMs: 30_000 });
    await waitFor(() => seen.some((s) => s.status === 304), { timeoutMs: 10_000 });
    visible = 230;
    await waitFor(async () => (await streamCount(platform, 'EVENTS')) >= 230, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    const events = await readStream(platform, 'EVENTS');
    expect(events.map((m) => m.data.id)).toEqual(records.map((r) => r.id));
    expect(events[7]!.data).toMatchObject({ source: '/pollers/readings-api', subject: 'd-2', data: { seq: 8 } });
    expect(seen.some((s) => s.cursor === '150' && s.ifNoneMatch !== undefined)).toBe(true);
  });
});
