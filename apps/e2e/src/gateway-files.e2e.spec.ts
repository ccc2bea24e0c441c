import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@tideway/testing';
import { readStream, send, startGateway, streamCount } from './gateway-support.ts';
import { repoRoot, type Platform } from './platform.ts';

const run = promisify(execFile);
const ROWS = 20_000;

/** An orders CSV: every 1000th row has a negative amount (the schema refuses it), every 2500th an unreadable one. */
function ordersCsv(): { text: string; valid: number; invalid: number; unmappable: number } {
  const lines = ['order_id,customer_id,amount,order_date,note'];
  let valid = 0;
  let invalid = 0;
  let unmappable = 0;
  for (let i = 1; i <= ROWS; i++) {
    let amount = String((i % 500) + 0.5);
    if (i % 2500 === 0) {
      amount = 'lots';
      unmappable++;
    } else if (i % 1000 === 0) {
      amount = '-1';
      invalid++;
    } else valid++;
    lines.push(`o-${i},c-${i % 97},${amount},2025-03-${String((i % 28) + 1).padStart(2, '0')},"note, ""${i}"""`);
  }
  return { text: lines.join('\n') + '\n', valid, invalid, unmappable };
}

describe('files: tideway ingest, interrupted and re-run, and the upload endpoint', () => {
  let platform: Platform;
  let dir: string;
  let key: string;
  const cli = (args: string[]) => ['--import', 'tsx', `${repoRoot}apps/cli/src/main.ts`, ...args];
  const cliEnv = () => ({
    ...platform.env,
    TIDEWAY_INGEST_URL: platform.ingestUrl,
    TIDEWAY_API_KEY: key,
    LOG_LEVEL: 'error',
  });

  beforeAll(async () => {
    platform = await startGateway();
    dir = await mkdtemp(join(tmpdir(), 'tideway-files-'));
    // The CLI creates the key, straight in PostgreSQL, as an operator would.
    const created = await run(
      process.execPath,
      cli(['keys', 'create', '--tenant', 'acme', '--scopes', 'ingest', '--name', 'loader']),
      {
        env: { ...platform.env },
        cwd: repoRoot,
      },
    );
    key = created.stdout.trim();
    expect(key).toMatch(/^tw_/);
  });
  afterAll(async () => {
    await platform?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a CSV load killed midway and run again stores every row exactly once', async () => {
    const { text, valid, invalid, unmappable } = ordersCsv();
    const file = join(dir, 'orders.csv');
    await writeFile(file, text);
    const args = cli([
      'ingest',
      file,
      '--type',
      'commerce.order.placed',
      '--subject',
      'customer_id',
      '--time',
      'order_date',
      '--cast',
      'amount:number',
      '--batch',
      '100',
      '--concurrency',
      '2',
      '--no-progress',
    ]);

    const first = spawn(process.execPath, args, { env: cliEnv(), cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    await waitFor(async () => (await streamCount(platform, 'EVENTS')) >= 3000, { timeoutMs: 60_000, intervalMs: 20 });
    first.kill('SIGKILL');
    await once(first, 'exit');
    const atKill = await streamCount(platform, 'EVENTS');
    expect(atKill).toBeLessThan(valid); // interrupted midway, not after the end

    const second = await run(process.execPath, args, { env: cliEnv(), cwd: repoRoot }).catch(
      (error: { stdout: string; stderr: string; code: number }) => error,
    );
    expect(second.stdout).toContain(`${ROWS} rows`);
    expect(second.stdout).toMatch(new RegExp(`${unmappable} not stored`));

    const events = await readStream(platform, 'EVENTS');
    expect(events).toHaveLength(valid);
    const orderIds = events.map((m) => m.data.data.order_id as string);
    expect(new Set(orderIds).size).toBe(valid);
    expect(new Set(events.map((m) => m.data.id)).size).toBe(valid);
    const sample = events.find((m) => m.data.data.order_id === 'o-7')!;
    expect(sample.data).toMatchObject({
      type: 'commerce.order.placed',
      subject: 'c-7',
      tenant: 'acme',
      time: '2025-03-08T00:00:00.000Z',
      source: '/files/orders.csv',
    });
    expect(sample.data.data).toMatchObject({ amount: 7.5, note: 'note, "7"' });
    expect(await streamCount(platform, 'QUARANTINE')).toBe(invalid);

    // A third run changes nothing: every row is a duplicate.
    const third = await run(process.execPath, args, { env: cliEnv(), cwd: repoRoot }).catch(
      (error: { stdout: string }) => error,
    );
    expect(third.stdout).toContain(`0 created, ${valid} duplicates`);
    expect(await streamCount(platform, 'EVENTS')).toBe(valid);
  }, 180_000);

  it('lists and rejects quarantined rows with tideway quarantine', async () => {
    const listed = await run(process.execPath, cli(['quarantine', 'list', '--limit', '100']), {
      env: cliEnv(),
      cwd: repoRoot,
    });
    const lines = listed.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/open\s+schema\s+events/);
    const id = lines[0]!.split(/\s+/)[0]!;
    const rejected = await run(
      process.execPath,
      cli(['quarantine', 'reject', id, '--reason', 'refund rows are loaded separately']),
      { env: cliEnv(), cwd: repoRoot },
    );
    expect(rejected.stdout).toContain(`rejected ${id}`);
    const shown = await run(process.execPath, cli(['quarantine', 'show', id]), { env: cliEnv(), cwd: repoRoot });
    expect(JSON.parse(shown.stdout)).toMatchObject({
      id,
      status: 'rejected',
      resolution: { reason: 'refund rows are loaded separately' },
    });
  });

  it('uploads a Parquet file and a JSON array through POST /v1/uploads, idempotently', async () => {
    const n = 1500;
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'device_id', data: Array.from({ length: n }, (_, i) => `pq-${i % 13}`), type: 'STRING' },
        { name: 'reading_value', data: Array.from({ length: n }, (_, i) => 20 + (i % 50)), type: 'DOUBLE' },
        {
          name: 'ts',
          data: Array.from({ length: n }, (_, i) => BigInt(Date.UTC(2025, 2, 1) + i * 1000)),
          type: 'INT64',
        },
      ],
      rowGroupSize: 400,
    });
    const url = `${platform.ingestUrl}/v1/uploads?type=iot.sensor.reading&subject=device_id&time=ts&name=readings.parquet`;
    const upload = () =>
      send(url, {
        method: 'POST',
        key,
        headers: { 'content-type': 'application/vnd.apache.parquet' },
        body: new Uint8Array(parquet),
      });
    const before = await streamCount(platform, 'EVENTS');
    const first = await upload();
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      format: 'parquet',
      items: n,
      created: n,
      quarantined: 0,
      failed: 0,
      file_identity: expect.stringMatching(/^sha256:/),
    });
    const again = await upload();
    expect(again.body).toMatchObject({ created: 0, duplicates: n });
    expect(await streamCount(platform, 'EVENTS')).toBe(before + n);
    const stored = (await readStream(platform, 'EVENTS')).filter((m) => m.data.source === '/files/readings.parquet');
    expect(stored[0]!.data).toMatchObject({
      subject: 'pq-0',
      time: '2025-03-01T00:00:00.000Z',
      data: { reading_value: 20 },
    });

    const json = JSON.stringify([
      { order_id: 'j-1', customer_id: 'c', amount: 3, order_date: '2025-03-01' },
      { order_id: 'j-2', customer_id: 'c', amount: -3, order_date: '2025-03-01' },
    ]);
    const res = await send(`${platform.ingestUrl}/v1/uploads?type=commerce.order.placed&format=json&name=orders.json`, {
      method: 'POST',
      key,
      headers: { 'content-type': 'application/json' },
      body: json,
    });
    expect(res.body).toMatchObject({
      items: 2,
      created: 1,
      quarantined: 1,
      failures: [{ index: 2, status: 'quarantined', reason: 'schema' }],
    });
  });
});
