/**
 * Raw PostgreSQL write references: `COPY … FROM STDIN` (postgres.js `.writable()`) of the stored envelopes into a
 * table equivalent to the warm store's `events` (same columns, indexes and daily partitions, in a freshly migrated
 * schema), plus the bulk-write shapes a projection can use per 1,000-row transaction, to compare them.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { partitionNameFor } from '@tideway/warm';
import { serveAgent, type AgentContext } from '../lib/agent-runtime.ts';
import { storedEnvelope } from '../lib/payload.ts';

interface Args {
  readonly databaseUrl: string;
  readonly schema: string;
  /** `copy`: one COPY stream of every row. The others: one transaction per `batch` rows. */
  readonly mode: 'copy' | 'copy-batched' | 'multirow' | 'unnest';
  /** `events`: the migrated warm table. `bare`: the same columns without indexes or partitions. */
  readonly table: 'events' | 'bare';
  readonly count: number;
  readonly batch: number;
  readonly idPrefix: string;
  readonly start?: number;
}

const COLUMNS = ['seq', 'tenant', 'id', 'source', 'type', 'subject', 'time', 'recorded_time', 'partition_key', 'entity_type', 'entity_id', 'attributes', 'data'] as const;
type Row = [number, string, string, string, string, string | null, string, string, string, string | null, string | null, string, string | null];

function rows(args: Args): Row[] {
  const out: Row[] = new Array<Row>(args.count);
  for (let i = 0; i < args.count; i++) {
    const e = storedEnvelope(args.idPrefix, i, args.start);
    const { data, ...attributes } = e;
    const device = (data as { device_id: string }).device_id;
    out[i] = [i + 1, e.tenant, e.id, e.source, e.type, e.subject ?? null, e.time, e.recordedtime, e.partitionkey, 'device', device, JSON.stringify(attributes), data === undefined ? null : JSON.stringify(data)];
  }
  return out;
}

/** COPY text format: tab-separated, `\N` for null, backslashes doubled (JSON text has no raw tabs or newlines). */
function copyLine(r: Row): string {
  return r.map((v) => (v === null ? '\\N' : typeof v === 'number' ? String(v) : v.replaceAll('\\', '\\\\'))).join('\t') + '\n';
}

async function ensureTable(sql: postgres.Sql, args: Args, data: readonly Row[]): Promise<string> {
  if (args.table === 'bare') {
    await sql.unsafe(`create table if not exists bare_events (seq bigint not null, tenant text not null, id text not null, source text not null, type text not null,
      subject text, time timestamptz not null, recorded_time timestamptz not null, partition_key text not null, entity_type text, entity_id text,
      attributes jsonb not null, data jsonb)`);
    await sql`truncate bare_events`;
    return 'bare_events';
  }
  const days = new Set(data.map((r) => partitionNameFor(r[6])));
  for (const name of days) {
    const d = name.slice('events_p'.length);
    const from = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T00:00:00Z`);
    const to = new Date(from.getTime() + 86_400_000);
    await sql.unsafe(`create table if not exists "${name}" partition of events for values from ('${from.toISOString()}') to ('${to.toISOString()}')`);
  }
  await sql`truncate events`;
  return 'events';
}

async function write(args: Args, ctx: AgentContext): Promise<object> {
  const sql = postgres(args.databaseUrl, { max: 1, onnotice: () => {}, connection: { search_path: args.schema, application_name: 'tideway-bench-copy' } });
  try {
    const data = rows(args);
    const table = await ensureTable(sql, args, data);
    const cols = COLUMNS as unknown as string[];
    await ctx.mark('begin');
    const started = performance.now();
    let written = 0;
    const progress = setInterval(() => ctx.progress(`${written}/${args.count} rows`), 2000);
    if (args.mode === 'copy') {
      const writable = await sql`copy ${sql(table)} (${sql(cols)}) from stdin`.writable();
      await pipeline(
        Readable.from(
          (function* () {
            for (let i = 0; i < data.length; i += 1000) {
              let chunk = '';
              for (const r of data.slice(i, i + 1000)) chunk += copyLine(r);
              written = Math.min(data.length, i + 1000);
              yield chunk;
            }
          })(),
        ),
        writable,
      );
    } else {
      for (let i = 0; i < data.length; i += args.batch) {
        const part = data.slice(i, i + args.batch);
        await sql.begin(async (tx) => {
          if (args.mode === 'copy-batched') {
            const writable = await tx`copy ${tx(table)} (${tx(cols)}) from stdin`.writable();
            await pipeline(Readable.from([part.map(copyLine).join('')]), writable);
          } else if (args.mode === 'multirow') {
            const objects = part.map((r) => Object.fromEntries(COLUMNS.map((c, k) => [c, r[k]])));
            await tx`insert into ${tx(table)} ${tx(objects)} on conflict do nothing`;
          } else {
            const col = (k: number): unknown[] => part.map((r) => r[k]);
            // As the warm projection sends them: every array as text[], cast by PostgreSQL (postgres.js would send
            // timestamptz[] through Date, dropping microseconds, and JSON-encode jsonb[] elements a second time).
            await tx`insert into ${tx(table)} (${tx(cols)})
              select * from unnest(${col(0).map(String)}::text[]::bigint[], ${col(1) as string[]}::text[], ${col(2) as string[]}::text[], ${col(3) as string[]}::text[],
                ${col(4) as string[]}::text[], ${col(5) as string[]}::text[], ${col(6) as string[]}::text[]::timestamptz[], ${col(7) as string[]}::text[]::timestamptz[],
                ${col(8) as string[]}::text[], ${col(9) as string[]}::text[], ${col(10) as string[]}::text[], ${col(11) as string[]}::text[]::jsonb[], ${col(12) as string[]}::text[]::jsonb[])
              on conflict do nothing`;
          }
        });
        written = i + part.length;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    clearInterval(progress);
    await ctx.mark('end');
    const [check] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)}`;
    if (check?.n !== args.count) throw new Error(`${table} holds ${check?.n} rows, expected ${args.count}`);
    return { count: args.count, seconds, rate: args.count / seconds };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

serveAgent<Args>(write);
