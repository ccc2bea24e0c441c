/**
 * Event factories shared by this library's tests (not exported from the package).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { BucketItem } from 'minio';
import { eventSubject, type EventEnvelope, type StoredEvent } from '@tideway/events';
import type { ColdStore } from './db.ts';
import { getObjectBytes, sha256Hex } from './objects.ts';

export interface TestEventSpec {
  readonly tenant?: string;
  readonly type?: string;
  readonly time: string;
  readonly data?: unknown;
  readonly subject?: string;
  readonly id?: string;
}

/** A stored event at `seq`, with every attribute the gateway fills in. */
export function testEvent(seq: number, spec: TestEventSpec, root = 'tw'): StoredEvent {
  const tenant = spec.tenant ?? 'acme';
  const type = spec.type ?? 'iot.sensor.reading';
  const event: EventEnvelope = {
    specversion: '1.0',
    id: spec.id ?? `evt-${seq}`,
    source: `/devices/${seq % 7}`,
    type,
    time: spec.time,
    tenant,
    partitionkey: spec.subject ?? `dev-${seq % 5}`,
    datacontenttype: 'application/json',
    recordedtime: new Date(Date.parse('2024-03-01T00:00:00Z') + seq * 1000).toISOString(),
    ...(spec.subject !== undefined ? { subject: spec.subject } : {}),
    ...(spec.data !== undefined ? { data: spec.data } : {}),
  };
  return { seq, subject: eventSubject({ root, partitions: 16 }, tenant, type, event.partitionkey), event };
}

/**
 * A deterministic mixed stream: `count` events over `tenants` tenants, two types and `days` days, with
 * readings whose payload gains a field half way (schema evolution), some without data, one with an explicit
 * null, and times at microsecond precision.
 */
export function mixedStream(count: number, options: { tenants?: number; days?: number; firstSeq?: number; start?: string } = {}): StoredEvent[] {
  const tenants = options.tenants ?? 2;
  const days = options.days ?? 3;
  const start = Date.parse(options.start ?? '2024-02-27T00:00:00Z');
  const span = days * 86_400_000;
  const out: StoredEvent[] = [];
  for (let i = 0; i < count; i++) {
    const seq = (options.firstSeq ?? 1) + i;
    const tenant = `t${i % tenants}`;
    const order = i % 3 === 0;
    // mostly increasing times, with some late arrivals
    const ms = start + Math.floor((i / count) * span) - (i % 11 === 0 ? 5 * 3_600_000 : 0);
    const time = new Date(Math.max(start, ms)).toISOString().replace('Z', `${String(i % 1000).padStart(3, '0')}Z`);
    let data: unknown;
    if (order) data = { order_id: `o-${i}`, customer_id: `c-${i % 13}`, amount: (i % 97) + 0.5, currency: 'EUR', order_date: '2024-02-27' };
    else if (i % 17 === 0) data = undefined;
    else if (i % 19 === 0) data = null;
    else data = { device_id: `d-${i % 9}`, reading_value: i / 10, ...(i > count / 2 ? { unit: 'C', calibrated: i % 2 === 0 } : {}), nested: { a: [i, 'x'] } };
    out.push(testEvent(seq, { tenant, type: order ? 'commerce.order.placed' : 'iot.sensor.reading', time, data, ...(i % 4 === 0 ? { subject: `dev-${i % 6}` } : {}) }));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Archive inspection for the integration tests


/** A manifest row as a test compares it: the key without the archive prefix, and no write time. */
export interface ManifestSnapshotRow {
  key: string;
  tenant: string;
  type: string;
  date: string;
  origin: string;
  window_start: string | null;
  window_end: string | null;
  seq_min: string;
  seq_max: string;
  time_min: string;
  time_max: string;
  row_count: number;
  byte_size: string;
  sha256: string;
  columns: unknown;
  format_version: number;
}

/** The manifest of a projection, keys relative to `prefix`, ordered by key. */
export async function manifestSnapshot(store: ColdStore, projection: string, prefix: string): Promise<ManifestSnapshotRow[]> {
  const rows = await store.sql<ManifestSnapshotRow[]>`
    select key, tenant, type, date::text as date, origin, window_start, window_end, seq_min, seq_max,
           to_char(time_min at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as time_min,
           to_char(time_max at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as time_max,
           row_count, byte_size, sha256, columns, format_version
    from cold_objects where projection = ${projection} order by key`;
  return rows.map((r) => ({ ...r, key: r.key.slice(prefix.length + 1) }));
}

/** Every object under `prefix/` with the SHA-256 of its bytes, keys relative to `prefix`. */
export async function objectChecksums(store: ColdStore, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const item of store.s3.listObjectsV2(store.bucket, `${prefix}/`, true) as AsyncIterable<BucketItem>) {
    if (item.name === undefined) continue;
    out.set(item.name.slice(prefix.length + 1), sha256Hex(await getObjectBytes(store.s3, store.bucket, item.name)));
  }
  return out;
}

/** Downloads objects to a temp dir and runs a DuckDB query over them: `$FILES` in `query` becomes the file list. */
export async function duckdbQuery(store: ColdStore, keys: readonly string[], query: string): Promise<Record<string, unknown>[]> {
  const dir = await mkdtemp(join(tmpdir(), 'tideway-cold-'));
  try {
    const files: string[] = [];
    for (const [i, key] of keys.entries()) {
      const file = join(dir, `${i}.parquet`);
      await writeFile(file, await getObjectBytes(store.s3, store.bucket, key));
      files.push(file);
    }
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const list = `[${files.map((f) => `'${f}'`).join(', ')}]`;
      const reader = await connection.runAndReadAll(query.replaceAll('$FILES', list));
      return reader.getRowObjectsJS();
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
