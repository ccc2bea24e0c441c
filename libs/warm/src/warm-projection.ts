import type postgres from 'postgres';
import { EntityReducers, entityKey, type EntityRef, type EntityState } from '@tideway/entities';
import { parseTime, type StoredEvent } from '@tideway/events';
import type { ApplyResult, ProjectionStore } from '@tideway/projection';
import type { WarmStore } from './db.ts';

type Tx = postgres.TransactionSql;

/** Name of the daily partition holding `time` (UTC). */
export function partitionNameFor(time: string | Date): string {
  return `events_p${new Date(time).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

const DAY_MS = 86_400_000;
/** Partition names by UTC day number: a batch's events fall on a few days, and a name per event cost ≈ 2 µs. */
const namesByDay = new Map<number, string>();

/** {@link partitionNameFor} of an event time (as stored: ISO 8601), through a cache of the day's name. */
function partitionOfEventTime(time: string): string {
  const ms = parseTime(time);
  if (!Number.isFinite(ms)) return partitionNameFor(time); // throws, as before: rejected events never get here
  const day = Math.floor(ms / DAY_MS);
  let name = namesByDay.get(day);
  if (name === undefined) {
    name = partitionNameFor(new Date(day * DAY_MS));
    if (namesByDay.size >= 10_000) namesByDay.clear();
    namesByDay.set(day, name);
  }
  return name;
}

/**
 * A daily partition's bounds as PostgreSQL reads them. Written `YYYY-MM-DD 00:00:00+00` with the year as digits
 * only: the day after 9999-12-31 is year 10000, which `toISOString()` would spell `+010000-…` (not a PostgreSQL
 * timestamp).
 */
function dayBounds(partition: string): [string, string] {
  const d = partition.slice('events_p'.length);
  const first = new Date(0);
  first.setUTCFullYear(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8))); // Date.UTC maps years 0–99 to 19xx
  const start = first.getTime();
  const day = (ms: number): string => {
    const t = new Date(ms);
    return `${String(t.getUTCFullYear()).padStart(4, '0')}-${String(t.getUTCMonth() + 1).padStart(2, '0')}-${String(t.getUTCDate()).padStart(2, '0')} 00:00:00+00`;
  };
  return [day(start), day(start + 86_400_000)];
}

/**
 * Queries sent without waiting for their answers. Each is marked handled at once (a failure aborts the transaction,
 * so later queries fail too, and only the first failure matters): `all()` waits for every one and throws the first.
 */
class Pipelined {
  private readonly queries: Promise<unknown>[] = [];
  add<T>(query: Promise<T>): Promise<T> {
    this.queries.push(query);
    query.catch(() => undefined);
    return query;
  }
  async all(): Promise<void> {
    await Promise.all(this.queries);
  }
}

/** Rows per entity-state upsert statement: 5 parameters each, well under PostgreSQL's 65,535 parameters. */
const INSERT_CHUNK = 2000;
/**
 * The event times the warm store takes: years 1 to 9999, which its daily partitions (`events_pYYYYMMDD`) can name.
 * (Spelled out: `Date.UTC(1, 0, 1)` would read year 1 as 1901, and `Date.UTC(9999, 11, 31)` ends at that day's start.)
 */
const MIN_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Inserts a batch of events as one `INSERT … SELECT` over one jsonb parameter holding every row
 * (`jsonb_array_elements` + `jsonb_to_record`), `ON CONFLICT DO NOTHING`. Measured per row of PostgreSQL CPU with
 * unnamed statements (the store's pools do not prepare, see db.ts): a multi-row `VALUES` list with 13 parameters
 * per row ≈ 3.2×, `unnest` over one text[] per column ≈ 1.8× (and postgres.js escapes every array element
 * client-side), this ≈ 1.4× a plain `COPY` — which cannot be used here: postgres.js never settles a COPY that fails
 * after its last chunk (porsager/postgres#1173), which would wedge the transaction. The client work is one
 * `JSON.stringify` of the batch. `data` is read with `->` so that a JSON `null` payload stays a jsonb `null`.
 */
function insertEvents(tx: Tx, events: readonly StoredEvent[], refs: readonly (EntityRef | undefined)[]): Promise<{ count: number }> {
  const rows = new Array<EventRow>(events.length);
  for (let i = 0; i < events.length; i++) {
    const { seq, event } = events[i]!;
    const ref = refs[i];
    rows[i] = { seq, entity_type: ref?.entityType ?? null, entity_id: ref?.entityId ?? null, event };
  }
  return tx`
    insert into events (seq, tenant, id, source, type, subject, time, recorded_time, partition_key, entity_type, entity_id, attributes, data)
    select r.seq, v.tenant, v.id, v.source, v.type, v.subject, v.time, v.recordedtime, v.partitionkey, r.entity_type, r.entity_id,
      (e->'event') - 'data', e->'event'->'data'
    from jsonb_array_elements(${JSON.stringify(rows)}::jsonb) as e,
      jsonb_to_record(e) as r(seq bigint, entity_type text, entity_id text),
      jsonb_to_record(e->'event') as v(tenant text, id text, source text, type text, subject text, time timestamptz,
        recordedtime timestamptz, partitionkey text)
    on conflict do nothing`;
}

/** One `events` row as it travels in the insert's jsonb parameter. */
interface EventRow {
  readonly seq: number;
  readonly entity_type: string | null;
  readonly entity_id: string | null;
  /** The envelope as stored: its columns, `attributes` (all but `data`) and `data` are taken from it in SQL. */
  readonly event: StoredEvent['event'];
}

/** An apply in progress, as the next apply sees it. */
class InFlightApply {
  /** Resolves with the checkpoint this apply will commit once it holds the checkpoint row; rejects if it fails first. */
  readonly locked: Promise<number>;
  /** Settles when this apply's transaction has ended: resolves on commit, rejects on failure. */
  readonly committed: Promise<void>;
  private resolveLocked!: (checkpoint: number) => void;
  private rejectLocked!: (error: unknown) => void;
  private resolveCommitted!: () => void;
  private rejectCommitted!: (error: unknown) => void;

  /** @param throughSeq the checkpoint the apply was asked to reach (its batch's last sequence) */
  constructor(readonly throughSeq: number) {
    this.locked = new Promise<number>((resolve, reject) => ((this.resolveLocked = resolve), (this.rejectLocked = reject)));
    this.committed = new Promise<void>((resolve, reject) => ((this.resolveCommitted = resolve), (this.rejectCommitted = reject)));
    // Nobody may be waiting: a failure is the apply's own to report.
    this.locked.catch(() => undefined);
    this.committed.catch(() => undefined);
  }

  holdsRow(checkpoint: number): void {
    this.resolveLocked(checkpoint);
  }

  settle(error?: unknown): void {
    if (error === undefined) {
      this.resolveCommitted();
    } else {
      this.rejectLocked(error);
      this.rejectCommitted(error);
    }
  }
}

/**
 * The warm projection: event history (time-partitioned) plus the latest state of every entity, written
 * effectively once. Each `apply` is one transaction that locks the projection's checkpoint row, drops events at
 * or below it, creates missing daily partitions, inserts the rest with multi-row statements, folds entity
 * states with the shared reducers, and moves the checkpoint — so rows, states and checkpoint never disagree.
 */
export class WarmProjection implements ProjectionStore {
  private readonly knownPartitions = new Set<string>();

  constructor(
    private readonly store: WarmStore,
    readonly name: string = 'warm-events',
    private readonly reducers: EntityReducers = new EntityReducers(),
  ) {}

  /** Events whose time PostgreSQL cannot hold go to quarantine instead of blocking the projection. */
  reject(stored: StoredEvent): string | undefined {
    const t = parseTime(stored.event.time);
    if (Number.isNaN(t)) return `time "${stored.event.time}" is not a timestamp`;
    if (t < MIN_TIME || t > MAX_TIME) return `time "${stored.event.time}" is outside the supported range`;
    return undefined;
  }

  async checkpoint(): Promise<number> {
    const rows = await this.store.sql<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name}`;
    return rows[0] ? Number(rows[0].seq) : 0;
  }

  /**
   * Two applies may run at once (the runner hands over the next batch while this one commits), so that one batch's
   * INSERT runs in PostgreSQL while the batch before it folds entities and commits: the warm drain was bound by
   * the projector and PostgreSQL waiting for each other (docs/benchmarks.md). Commits stay in order — see `apply`.
   */
  readonly maxConcurrentApplies = 2;

  /** The latest apply started, while it runs: the next one orders itself after it. */
  private latest: InFlightApply | undefined;

  /**
   * One transaction per batch. When no apply is running, it locks the checkpoint row first, drops events at or
   * below the checkpoint, inserts the rest, folds entity states and moves the checkpoint.
   *
   * When the previous batch's apply is still running (`maxConcurrentApplies`), this one sends its INSERT at once —
   * the events after the previous batch's end; it runs beside the other transaction's INSERT, and events the
   * checkpoint already covers conflict and are skipped — then waits until the previous apply holds the checkpoint
   * row, keeps for the entity fold only the events above the checkpoint that one will commit, and asks for the
   * checkpoint row itself: PostgreSQL makes it wait until the previous transaction ends — a wait PostgreSQL's
   * deadlock detector can see, should the two INSERTs ever wait for each other over a duplicate event. It commits
   * only if the row holds exactly the checkpoint the previous apply was to commit, so a batch never commits after a
   * predecessor that failed: the entity fold reads states the previous batch committed, and checkpoint, rows and
   * states never disagree.
   */
  apply(batch: readonly StoredEvent[], throughSeq: number = batch.at(-1)?.seq ?? 0): Promise<ApplyResult> {
    const previous = this.latest;
    const mine = new InFlightApply(throughSeq);
    this.latest = mine;
    return this.applyAfter(previous, mine, batch, throughSeq).finally(() => {
      if (this.latest === mine) this.latest = undefined;
    });
  }

  private async applyAfter(previous: InFlightApply | undefined, mine: InFlightApply, batch: readonly StoredEvent[], throughSeq: number): Promise<ApplyResult> {
    try {
      const result = await this.store.sql.begin(async (tx) => {
        // Statements that do not need each other's results are sent together (postgres.js pipelines the queries it
        // is given before their answers arrive): every wait for PostgreSQL is a round trip plus, on a busy machine,
        // a trip through the scheduler, and those waits were most of a batch's time (docs/benchmarks.md).
        const sent = new Pipelined();
        let applied: number;
        let inserted: Promise<{ count: number }> | undefined;
        let fresh: readonly StoredEvent[];
        let refs: readonly (EntityRef | undefined)[] = [];
        if (previous) {
          // The INSERT goes out at once, beside the running apply's (two backends, not one after the other): this
          // batch's events after the end of that one's cannot be in it, and any the checkpoint already covers
          // (a redelivery) conflict and are skipped. Which events are folded into entity states waits for the exact
          // checkpoint the running apply will commit (it throws if that one failed before taking the row).
          const candidates = batch.filter((e) => e.seq > previous.throughSeq);
          // A new daily partition is DDL on `events`: create it only once the other transaction has ended.
          if (this.missingPartitions(candidates).length > 0) await previous.committed;
          let candidateRefs: readonly (EntityRef | undefined)[] = [];
          if (candidates.length > 0) {
            await this.ensurePartitions(tx, candidates);
            candidateRefs = candidates.map(({ event }) => this.reducers.for(event.type).entityOf(event));
            inserted = sent.add(insertEvents(tx, candidates, candidateRefs));
          }
          applied = await previous.locked;
          const folded: StoredEvent[] = [];
          const foldedRefs: (EntityRef | undefined)[] = [];
          candidates.forEach((e, i) => {
            if (e.seq <= applied) return; // a redelivery: already in the entity states
            folded.push(e);
            foldedRefs.push(candidateRefs[i]);
          });
          fresh = folded;
          refs = foldedRefs;
          const [row] = await tx<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name} for update`;
          if (!row || Number(row.seq) !== applied) {
            throw new Error(`warm projection ${this.name}: the previous batch did not commit checkpoint ${applied} (found ${row?.seq ?? 'none'}); retrying in order`);
          }
        } else {
          // The checkpoint row, locked; created on the projection's first apply.
          let [row] = await tx<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name} for update`;
          if (!row) {
            await tx`insert into projection_checkpoints (projection, seq) values (${this.name}, 0) on conflict do nothing`;
            [row] = await tx<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name} for update`;
          }
          applied = row ? Number(row.seq) : 0;
          fresh = batch.filter((e) => e.seq > applied);
        }
        const through = Math.max(applied, throughSeq);
        mine.holdsRow(through);
        if (fresh.length > 0) {
          if (!inserted) {
            await this.ensurePartitions(tx, fresh);
            refs = fresh.map(({ event }) => this.reducers.for(event.type).entityOf(event));
            inserted = sent.add(insertEvents(tx, fresh, refs));
          }
          await this.foldEntities(tx, fresh, refs, sent);
        }
        if (through > applied) {
          void sent.add(tx`update projection_checkpoints set seq = ${through}, updated_at = now() where projection = ${this.name}`);
        }
        await sent.all();
        return { applied: inserted ? (await inserted).count : 0, skipped: batch.length - fresh.length, checkpoint: through };
      });
      mine.settle();
      return result;
    } catch (error) {
      mine.settle(error);
      // A partition may have been dropped by tiering since we cached it.
      this.knownPartitions.clear();
      throw error;
    }
  }

  private missingPartitions(events: readonly StoredEvent[]): string[] {
    const names = new Set<string>();
    for (const e of events) names.add(partitionOfEventTime(e.event.time));
    return [...names].filter((name) => !this.knownPartitions.has(name));
  }

  private async ensurePartitions(tx: Tx, events: readonly StoredEvent[]): Promise<void> {
    for (const name of this.missingPartitions(events)) {
      const [from, to] = dayBounds(name);
      await tx.unsafe(`create table if not exists "${name}" partition of events for values from ('${from}') to ('${to}')`);
      this.knownPartitions.add(name);
    }
  }

  /** Reads (and locks) the touched entities' states, folds the batch into them and sends the upserts (not awaited). */
  private async foldEntities(tx: Tx, events: readonly StoredEvent[], refs: readonly (EntityRef | undefined)[], sent: Pipelined): Promise<void> {
    const touched = new Map<string, { tenant: string; ref: EntityRef; state: EntityState | undefined; lastSeq: number }>();
    events.forEach((e, i) => {
      const ref = refs[i];
      if (ref) touched.set(entityKey(e.event.tenant, ref), { tenant: e.event.tenant, ref, state: undefined, lastSeq: 0 });
    });
    if (touched.size === 0) return;
    const keys = [...touched.values()];
    const current = await sent.add(tx<{ tenant: string; entity_type: string; entity_id: string; state: EntityState }[]>`
      select s.tenant, s.entity_type, s.entity_id, s.state from entity_state s
      join unnest(${keys.map((k) => k.tenant)}::text[], ${keys.map((k) => k.ref.entityType)}::text[], ${keys.map((k) => k.ref.entityId)}::text[])
        as k(tenant, entity_type, entity_id) using (tenant, entity_type, entity_id)
      for update of s`);
    for (const c of current) {
      const entry = touched.get(entityKey(c.tenant, { entityType: c.entity_type, entityId: c.entity_id }));
      if (entry) entry.state = c.state;
    }
    events.forEach((e, i) => {
      const ref = refs[i];
      if (!ref) return;
      const entry = touched.get(entityKey(e.event.tenant, ref))!;
      entry.state = this.reducers.for(e.event.type).reduce(entry.state, e.event, e.seq);
      entry.lastSeq = e.seq;
    });
    const rows = keys.map((k) => ({
      tenant: k.tenant,
      entity_type: k.ref.entityType,
      entity_id: k.ref.entityId,
      state: JSON.stringify(k.state),
      last_seq: k.lastSeq,
    }));
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      void sent.add(tx`insert into entity_state ${tx(rows.slice(i, i + INSERT_CHUNK))}
        on conflict (tenant, entity_type, entity_id) do update set state = excluded.state, last_seq = excluded.last_seq, updated_at = now()`);
    }
  }
}
