import type postgres from 'postgres';
import { EntityReducers, entityKey, type EntityRef, type EntityState } from '@tideway/entities';
import type { StoredEvent } from '@tideway/events';
import type { ApplyResult, ProjectionStore } from '@tideway/projection';
import type { WarmStore } from './db.ts';

type Tx = postgres.TransactionSql;

/** Name of the daily partition holding `time` (UTC). */
export function partitionNameFor(time: string | Date): string {
  return `events_p${new Date(time).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

function dayBounds(partition: string): [string, string] {
  const d = partition.slice('events_p'.length);
  const start = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T00:00:00Z`);
  return [start.toISOString(), new Date(start.getTime() + 86_400_000).toISOString()];
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

/** Rows per INSERT statement: 13 parameters each, well under PostgreSQL's 65,535 parameters. */
const INSERT_CHUNK = 2000;

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
    const t = Date.parse(stored.event.time);
    if (Number.isNaN(t)) return `time "${stored.event.time}" is not a timestamp`;
    if (t < Date.UTC(1, 0, 1) || t > Date.UTC(9999, 11, 31)) return `time "${stored.event.time}" is outside the supported range`;
    return undefined;
  }

  async checkpoint(): Promise<number> {
    const rows = await this.store.sql<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name}`;
    return rows[0] ? Number(rows[0].seq) : 0;
  }

  async apply(batch: readonly StoredEvent[], throughSeq: number = batch.at(-1)?.seq ?? 0): Promise<ApplyResult> {
    try {
      return await this.store.sql.begin(async (tx) => {
        // Statements that do not need each other's results are sent together (postgres.js pipelines the queries it
        // is given before their answers arrive): every wait for PostgreSQL is a round trip plus, on a busy machine,
        // a trip through the scheduler, and those waits were most of a batch's time (docs/benchmarks.md).
        const sent = new Pipelined();
        // The checkpoint row, locked; created on the projection's first apply.
        let [row] = await tx<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name} for update`;
        if (!row) {
          await tx`insert into projection_checkpoints (projection, seq) values (${this.name}, 0) on conflict do nothing`;
          [row] = await tx<{ seq: string }[]>`select seq from projection_checkpoints where projection = ${this.name} for update`;
        }
        const applied = row ? Number(row.seq) : 0;
        const fresh = batch.filter((e) => e.seq > applied);
        const through = Math.max(applied, throughSeq);
        const inserts: Promise<{ count: number }>[] = [];
        if (fresh.length > 0) {
          await this.ensurePartitions(tx, fresh);
          const refs = fresh.map(({ event }) => this.reducers.for(event.type).entityOf(event));
          for (let i = 0; i < fresh.length; i += INSERT_CHUNK) {
            const rows = fresh.slice(i, i + INSERT_CHUNK).map(({ seq, event }, j) => {
              const { data, ...attributes } = event;
              const ref = refs[i + j];
              return {
                seq,
                tenant: event.tenant,
                id: event.id,
                source: event.source,
                type: event.type,
                subject: event.subject ?? null,
                time: event.time,
                recorded_time: event.recordedtime,
                partition_key: event.partitionkey,
                entity_type: ref?.entityType ?? null,
                entity_id: ref?.entityId ?? null,
                // jsonb parameters travel as JSON text (postgres.js has no jsonb serialiser).
                attributes: JSON.stringify(attributes),
                data: data === undefined ? null : JSON.stringify(data),
              };
            });
            inserts.push(sent.add(tx`insert into events ${tx(rows)} on conflict do nothing`));
          }
          await this.foldEntities(tx, fresh, refs, sent);
        }
        if (through > applied) {
          void sent.add(tx`update projection_checkpoints set seq = ${through}, updated_at = now() where projection = ${this.name}`);
        }
        await sent.all();
        let inserted = 0;
        for (const insert of inserts) inserted += (await insert).count;
        return { applied: inserted, skipped: batch.length - fresh.length, checkpoint: through };
      });
    } catch (error) {
      // A partition may have been dropped by tiering since we cached it.
      this.knownPartitions.clear();
      throw error;
    }
  }

  private async ensurePartitions(tx: Tx, events: readonly StoredEvent[]): Promise<void> {
    const needed = new Set(events.map((e) => partitionNameFor(e.event.time)));
    for (const name of needed) {
      if (this.knownPartitions.has(name)) continue;
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
