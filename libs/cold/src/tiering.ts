import { eventSubject, type EventEnvelope, type SubjectScheme } from '@tideway/events';
import type { WarmStore } from '@tideway/warm';
import type postgres from 'postgres';
import { resolveArchive, writeColdObject, type ColdArchiveOptions, type ResolvedArchive } from './archive.ts';
import type { FlatColumn, FlatType } from './columns.ts';
import { appendRows, objectKey, partitionId } from './layout.ts';
import { queryManifest, readColdCheckpoint, upsertManifest, type ManifestEntry, type ManifestWrite } from './manifest.ts';
import { mapLimit } from './objects.ts';
import { readObjectSeqs } from './object-rows.ts';
import { rowFromEvent, unarchivableReason, type ColdRow } from './parquet.ts';
import { addDays, microsToIso, parseTimeMicros, toMicros, utcDate } from './time.ts';

/** How long events stay in the warm store, by event type. */
export interface WarmRetention {
  /** Default retention in milliseconds of event time. */
  readonly defaultMs: number;
  /** Retention of particular event types, in milliseconds. */
  readonly byTypeMs?: Readonly<Record<string, number>>;
}

/** Event-time cutoffs: warm events older than their type's cutoff move to the cold archive. */
export interface TieringCutoffs {
  readonly cutoff: Date;
  readonly byType?: Readonly<Record<string, Date>>;
}

/** The cutoffs of a retention policy at `now`. */
export function retentionCutoffs(retention: WarmRetention, now: Date): TieringCutoffs {
  const at = (ms: number): Date => new Date(now.getTime() - ms);
  return {
    cutoff: at(retention.defaultMs),
    byType: Object.fromEntries(Object.entries(retention.byTypeMs ?? {}).map(([type, ms]) => [type, at(ms)])),
  };
}

/** Options of {@link tierWarmToCold}. */
export interface TierWarmToColdOptions {
  /** The warm store; tiering reads and deletes rows of its `events` table with plain SQL. */
  readonly warm: WarmStore;
  /** The cold archive the cold projection writes (same options). */
  readonly archive: ColdArchiveOptions;
  readonly cutoffs: TieringCutoffs;
  /** The subject scheme, to restore the stream subject of events backfilled from warm rows. */
  readonly scheme: SubjectScheme;
  /** Longest wait for the lock that detaching a partition needs (default 5 s); then its rows are deleted instead. */
  readonly lockTimeoutMs?: number;
  /** Check and report, but write and delete nothing. */
  readonly dryRun?: boolean;
}

/** What happened to one unit of warm storage: a partition, or a day of an unpartitioned table. */
export interface TieringUnit {
  /** The table the unit's rows were in (`events`, or a partition). */
  readonly relation: string;
  readonly from: string;
  readonly to: string;
  /** `dropped`: the partition was detached and dropped; `deleted`: rows deleted; `kept`: nothing was eligible or verified. */
  readonly action: 'dropped' | 'deleted' | 'kept';
  readonly eligible: number;
  readonly removed: number;
  readonly deferred: number;
}

/** The outcome of a tiering run. */
export interface TieringReport {
  /** Warm events older than their type's cutoff. */
  readonly eligible: number;
  /** Eligible events found in verified cold objects. */
  readonly archived: number;
  /** Eligible events the cold projection will never write (quarantined by it, or older than its start): written from warm. */
  readonly backfilled: number;
  readonly backfillObjects: number;
  /**
   * Eligible events left in warm for a later run: not archived yet and beyond the cold projection's checkpoint
   * (it will write them), or not archivable at all (see `unarchivable`).
   */
  readonly deferred: number;
  /** Of `deferred`: events the archive cannot hold (a tenant, type or time unusable in an object key or file). */
  readonly unarchivable: number;
  /** Rows removed from warm (deleted, or in dropped partitions). */
  readonly removed: number;
  readonly droppedPartitions: readonly string[];
  /** Cold objects read and verified. */
  readonly objectsVerified: number;
  readonly units: readonly TieringUnit[];
}

interface Unit {
  readonly relation: string;
  readonly lo: bigint;
  readonly hi: bigint;
  /** Set when the unit is a whole partition (detach + drop is possible). */
  readonly partition?: string;
}

interface PartitionInfo {
  readonly relation: string;
  readonly lo?: bigint;
  readonly hi?: bigint;
  readonly isDefault: boolean;
}

const DAY_MICROS = 86_400_000_000n;

/** The partitions of the warm `events` table, or undefined when it is not range-partitioned on `time`. */
async function warmPartitions(sql: postgres.Sql): Promise<PartitionInfo[] | undefined> {
  return sql.begin(async (tx) => {
    // Partition bounds print in the session time zone: make it UTC so they parse unambiguously.
    await tx`set local timezone = 'UTC'`;
    const [keydef] = await tx<{ def: string | null }[]>`select pg_get_partkeydef('events'::regclass) as def`;
    if (!keydef?.def || !/^RANGE \("?time"?\)$/i.test(keydef.def)) return undefined;
    const rows = await tx<{ relation: string; bound: string }[]>`
      select c.oid::regclass::text as relation, pg_get_expr(c.relpartbound, c.oid) as bound
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'events'::regclass`;
    return rows.map((r) => {
      if (r.bound === 'DEFAULT') return { relation: r.relation, isDefault: true };
      const m = /FROM \('([^']+)'\) TO \('([^']+)'\)/.exec(r.bound);
      // MINVALUE / MAXVALUE bounds: no finite range, handled day by day like a default partition.
      if (!m) return { relation: r.relation, isDefault: true };
      return { relation: r.relation, lo: parseTimeMicros(m[1]!), hi: parseTimeMicros(m[2]!), isDefault: false };
    });
  });
}

/** Day units (UTC) over the rows of `relation` older than `before`. */
async function dayUnits(sql: postgres.Sql, relation: string, before: bigint): Promise<Unit[]> {
  const [row] = await sql<{ min_us: string | null }[]>`select (extract(epoch from min(time)) * 1000000)::bigint as min_us from ${sql.unsafe(relation)}`;
  if (!row?.min_us) return [];
  const units: Unit[] = [];
  for (let lo = BigInt(Date.parse(`${utcDate(BigInt(row.min_us))}T00:00:00Z`)) * 1000n; lo < before; lo += DAY_MICROS) {
    units.push({ relation, lo, hi: lo + DAY_MICROS });
  }
  return units;
}

interface WarmGroup {
  readonly tenant: string;
  readonly type: string;
  readonly count: number;
}

/**
 * Moves warm events older than their type's cutoff to the cold archive, then removes them from warm: the job
 * behind warm retention. For each partition of the warm `events` table (each UTC day when it is not
 * partitioned) and each tenant and type in it:
 *
 * 1. lists the eligible warm sequences and reads the `seq` column of every cold object that can hold them
 *    (manifest-pruned by tenant, type, date ±1 and sequence range), each object verified against its manifest
 *    row (SHA-256, or the committed rows of an object still growing): an event counts as archived only when a
 *    committed, readable object holds it;
 * 2. writes the missing ones the cold projection will never write (at or below its checkpoint: it
 *    quarantined them, or started after them) as backfill objects, from the warm rows, and commits their
 *    manifest rows; missing ones beyond its checkpoint are left in warm for a later run (`deferred`);
 * 3. removes the verified events from warm: a partition all of whose rows were verified is detached and
 *    dropped (after checking, under the lock, that no row arrived since it was read); otherwise the verified
 *    rows are deleted by sequence.
 *
 * Only one run at a time per archive (a session advisory lock; a second run fails at once).
 */
export async function tierWarmToCold(options: TierWarmToColdOptions): Promise<TieringReport> {
  const archive = resolveArchive(options.archive);
  const { sql } = options.warm;
  const lock = await sql.reserve();
  try {
    const [got] = await lock<{ ok: boolean }[]>`select pg_try_advisory_lock(hashtext(${`tideway:tiering:${archive.name}`})) as ok`;
    if (!got?.ok) throw new Error(`another tiering run of cold archive ${archive.name} is in progress`);
    try {
      return await tier(options, archive);
    } finally {
      await lock`select pg_advisory_unlock(hashtext(${`tideway:tiering:${archive.name}`}))`;
    }
  } finally {
    lock.release();
  }
}

async function tier(options: TierWarmToColdOptions, archive: ResolvedArchive): Promise<TieringReport> {
  const { sql } = options.warm;
  const cutoffOf = (type: string): bigint => toMicros(options.cutoffs.byType?.[type] ?? options.cutoffs.cutoff);
  let maxCutoff = toMicros(options.cutoffs.cutoff);
  for (const d of Object.values(options.cutoffs.byType ?? {})) if (toMicros(d) > maxCutoff) maxCutoff = toMicros(d);

  const partitions = await warmPartitions(sql);
  const units: Unit[] = [];
  if (partitions === undefined) {
    units.push(...(await dayUnits(sql, 'events', maxCutoff)));
  } else {
    for (const p of partitions) {
      if (p.isDefault) units.push(...(await dayUnits(sql, p.relation, maxCutoff)));
      else if (p.lo! < maxCutoff) units.push({ relation: p.relation, lo: p.lo!, hi: p.hi!, partition: p.relation });
    }
  }
  units.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));

  const checkpoint = await readColdCheckpoint(archive.store.sql, archive.name);
  const columns = await loadColumns(archive);
  const totals = { eligible: 0, archived: 0, backfilled: 0, backfillObjects: 0, deferred: 0, unarchivable: 0, removed: 0, objectsVerified: 0 };
  const dropped: string[] = [];
  const reports: TieringUnit[] = [];

  for (const unit of units) {
    const rel = sql.unsafe(unit.relation);
    const groups = await sql<WarmGroup[]>`
      select tenant, type, count(*)::int as count from ${rel}
      where time >= ${microsToIso(unit.lo)}::timestamptz and time < ${microsToIso(unit.hi)}::timestamptz
      group by tenant, type order by tenant, type`;
    let wholeUnit = groups.length > 0;
    let unitEligible = 0;
    let unitDeferred = 0;
    const verified: number[] = [];
    for (const group of groups) {
      const cutoff = cutoffOf(group.type);
      const hi = cutoff < unit.hi ? cutoff : unit.hi;
      if (hi < unit.hi) wholeUnit = false;
      if (hi <= unit.lo) continue;
      const seqs = (
        await sql<{ seq: string }[]>`
          select seq from ${rel}
          where tenant = ${group.tenant} and type = ${group.type}
            and time >= ${microsToIso(unit.lo)}::timestamptz and time < ${microsToIso(hi)}::timestamptz
          order by seq`
      ).map((r) => Number(r.seq));
      if (seqs.length !== group.count) wholeUnit = false; // rows arrived or left since the count
      if (seqs.length === 0) continue;
      unitEligible += seqs.length;

      const found = await archivedSeqs(archive, group, seqs, { lo: unit.lo, hi }, checkpoint);
      totals.objectsVerified += found.objects;
      const missing = seqs.filter((s) => !found.seqs.has(s));
      totals.archived += seqs.length - missing.length;
      // Missing beyond the projection's checkpoint: it will write them; tiering must not race it.
      const kept = new Set(missing.filter((s) => s > checkpoint));
      const backfill = missing.filter((s) => s <= checkpoint);
      if (backfill.length > 0) {
        if (options.dryRun) {
          totals.backfilled += backfill.length;
        } else {
          const result = await backfillFromWarm(options, archive, backfill, columns);
          totals.backfillObjects += result.objects;
          totals.backfilled += result.written.size;
          for (const s of backfill) {
            if (!result.written.has(s)) {
              kept.add(s);
              totals.unarchivable++;
            }
          }
        }
      }
      unitDeferred += kept.size;
      if (kept.size > 0) wholeUnit = false;
      for (const s of seqs) if (!kept.has(s)) verified.push(s);
    }
    totals.eligible += unitEligible;
    totals.deferred += unitDeferred;

    let action: TieringUnit['action'] = verified.length > 0 ? 'deleted' : 'kept';
    let removed = 0;
    if (options.dryRun) {
      action = 'kept';
    } else if (verified.length > 0) {
      let maxSeq = 0;
      for (const s of verified) if (s > maxSeq) maxSeq = s;
      if (unit.partition !== undefined && wholeUnit && (await dropPartition(options, unit.partition, maxSeq))) {
        action = 'dropped';
        dropped.push(unit.partition);
        removed = verified.length;
      } else {
        removed = await deleteSeqs(sql, unit, verified);
      }
    }
    totals.removed += removed;
    reports.push({ relation: unit.relation, from: microsToIso(unit.lo), to: microsToIso(unit.hi), action, eligible: unitEligible, removed, deferred: unitDeferred });
  }
  return { ...totals, droppedPartitions: dropped, units: reports };
}

/** Which of `seqs` (one tenant and type, ascending) are in verified cold objects. */
async function archivedSeqs(
  archive: ResolvedArchive,
  group: WarmGroup,
  seqs: readonly number[],
  range: { lo: bigint; hi: bigint },
  checkpoint: number,
): Promise<{ seqs: Set<number>; objects: number }> {
  const first = utcDate(range.lo);
  const last = utcDate(range.hi - 1n);
  // Date partitions come from the archive's own reading of event times; look one day either side, in case a
  // time rounds across midnight differently, but read those objects only for sequences still missing.
  const entries = await queryManifest(archive.store.sql, {
    projection: archive.name,
    tenant: group.tenant,
    type: group.type,
    dateFrom: addDays(first, -1),
    dateTo: addDays(last, 1),
    seqFrom: seqs[0]!,
    seqTo: seqs.at(-1)!,
  });
  const inRange = (e: ManifestEntry): boolean => e.date >= first && e.date <= last;
  const found = new Set<number>();
  const read = async (list: ManifestEntry[]): Promise<void> => {
    const all = await mapLimit(list, archive.concurrency, (e) => readObjectSeqs(archive, e, checkpoint));
    for (const part of all) for (const s of part) found.add(s);
  };
  const primary = entries.filter(inRange);
  await read(primary);
  const missing = seqs.filter((s) => !found.has(s));
  const secondary = missing.length === 0 ? [] : entries.filter((e) => !inRange(e) && missing.some((s) => s >= e.seqMin && s <= e.seqMax));
  await read(secondary);
  return { seqs: found, objects: primary.length + secondary.length };
}

async function loadColumns(archive: ResolvedArchive): Promise<Map<string, FlatColumn[]>> {
  const rows = await archive.store.sql<{ tenant: string; type: string; name: string; field: string; column_type: FlatType; first_seq: string }[]>`
    select tenant, type, name, field, column_type, first_seq from cold_columns where projection = ${archive.name} order by name`;
  const map = new Map<string, FlatColumn[]>();
  for (const r of rows) {
    const key = `${r.tenant}\u0000${r.type}`;
    const list = map.get(key) ?? [];
    list.push({ name: r.name, field: r.field, type: r.column_type, firstSeq: Number(r.first_seq) });
    map.set(key, list);
  }
  return map;
}

interface WarmEventRow {
  seq: string;
  tenant: string;
  type: string;
  partition_key: string;
  attributes: Record<string, unknown>;
  data: unknown;
  /** SQL NULL (no data), as opposed to a JSON `null` payload, which postgres.js also returns as null. */
  no_data: boolean;
}

/**
 * Writes warm events the cold projection will never write as backfill objects (one tenant/type/date each,
 * named by their first and last sequences, with the flattened columns already registered; no new ones), then
 * commits their manifest rows in one transaction. Returns the objects written and the sequences they hold.
 */
async function backfillFromWarm(
  options: TierWarmToColdOptions,
  archive: ResolvedArchive,
  seqs: readonly number[],
  columns: Map<string, FlatColumn[]>,
): Promise<{ objects: number; written: Set<number> }> {
  const rows: ColdRow[] = [];
  for (let i = 0; i < seqs.length; i += 10_000) {
    const chunk = seqs.slice(i, i + 10_000);
    const found = await options.warm.sql<WarmEventRow[]>`
      select seq, tenant, type, partition_key, attributes, data, data is null as no_data from events where seq = any(${chunk}::bigint[]) order by seq`;
    for (const r of found) {
      const attributes = r.attributes as Omit<EventEnvelope, 'data'>;
      const event = (r.no_data ? attributes : { ...attributes, data: r.data }) as EventEnvelope;
      if (unarchivableReason(event) !== undefined) continue; // cannot be archived: stays in warm
      rows.push(rowFromEvent({ seq: Number(r.seq), subject: eventSubject(options.scheme, r.tenant, r.type, r.partition_key), event }));
    }
  }
  const byPartition = new Map<string, ColdRow[]>();
  for (const row of rows) {
    const id = partitionId(row);
    const list = byPartition.get(id);
    if (list) list.push(row);
    else byPartition.set(id, [row]);
  }
  const tasks: { key: string; rows: ColdRow[] }[] = [];
  for (const list of byPartition.values()) {
    for (const part of appendRows(undefined, list, archive.maxObjectBytes)) {
      const first = part.rows[0]!;
      tasks.push({ key: objectKey(archive.prefix, first.tenant, first.type, first.date, part.firstSeq, part.rows.at(-1)!.seq), rows: part.rows });
    }
  }
  const writes: ManifestWrite[] = await mapLimit(tasks, archive.concurrency, (t) =>
    writeColdObject(archive, t.key, t.rows, columns.get(`${t.rows[0]!.tenant}\u0000${t.rows[0]!.type}`) ?? [], 'backfill', null),
  );
  if (writes.length > 0) await archive.store.sql.begin((tx) => upsertManifest(tx, archive.name, writes));
  return { objects: writes.length, written: new Set(rows.map((r) => r.seq)) };
}

/**
 * Detaches and drops a partition whose rows are all archived. Under the exclusive lock that DETACH takes,
 * the partition's highest sequence must still be `expectedMaxSeq`: the warm projector inserts in stream order,
 * so a row that arrived after the partition was read would have a higher one (then nothing is dropped).
 */
async function dropPartition(options: TierWarmToColdOptions, partition: string, expectedMaxSeq: number): Promise<boolean> {
  try {
    return await options.warm.sql.begin(async (tx) => {
      await tx.unsafe(`set local lock_timeout = ${Math.max(1, Math.floor(options.lockTimeoutMs ?? 5000))}`);
      await tx.unsafe(`alter table events detach partition ${partition}`);
      const [row] = await tx<{ max: string | null }[]>`select max(seq) as max from ${tx.unsafe(partition)}`;
      if (Number(row?.max ?? 0) !== expectedMaxSeq) throw new PartitionChanged();
      await tx.unsafe(`drop table ${partition}`);
      return true;
    });
  } catch (error) {
    if (error instanceof PartitionChanged) return false;
    if ((error as { code?: string }).code === '55P03') return false; // lock_not_available
    throw error;
  }
}

class PartitionChanged extends Error {}

async function deleteSeqs(sql: postgres.Sql, unit: Unit, seqs: readonly number[]): Promise<number> {
  let removed = 0;
  for (let i = 0; i < seqs.length; i += 10_000) {
    const chunk = seqs.slice(i, i + 10_000);
    const result = await sql`
      delete from ${sql.unsafe(unit.relation)}
      where seq = any(${chunk}::bigint[])
        and time >= ${microsToIso(unit.lo)}::timestamptz and time < ${microsToIso(unit.hi)}::timestamptz`;
    removed += result.count;
  }
  return removed;
}
