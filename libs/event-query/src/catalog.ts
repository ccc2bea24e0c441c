import type { WarmStore } from '@tideway/warm';

/**
 * The event types a tenant has stored, found with a loose index scan over `(tenant, type, time, seq)`: one index
 * probe per distinct type instead of a scan of every event.
 */
export async function storedEventTypes(store: WarmStore, tenant: string): Promise<string[]> {
  const rows = await store.sql<{ type: string }[]>`
    with recursive t(type) as (
      (select type from events where tenant = ${tenant} order by type limit 1)
      union all
      select (select e.type from events e where e.tenant = ${tenant} and e.type > t.type order by e.type limit 1)
      from t where t.type is not null
    )
    select type from t where type is not null`;
  return rows.map((r) => r.type);
}

/** A projection's committed position. */
export interface ProjectionCheckpoint {
  readonly projection: string;
  readonly seq: number;
  /** When it last committed (RFC 3339). */
  readonly updatedAt: string;
}

/** Every projection checkpoint in the warm store (`projection_checkpoints`). */
export async function projectionCheckpoints(store: WarmStore): Promise<ProjectionCheckpoint[]> {
  const rows = await store.sql<{ projection: string; seq: string; updated_at: string }[]>`
    select projection, seq, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at
    from projection_checkpoints order by projection`;
  return rows.map((r) => ({ projection: r.projection, seq: Number(r.seq), updatedAt: r.updated_at }));
}

/** One projection's checkpoint, or undefined when it has never committed. */
export async function projectionCheckpoint(store: WarmStore, projection: string): Promise<ProjectionCheckpoint | undefined> {
  const [r] = await store.sql<{ projection: string; seq: string; updated_at: string }[]>`
    select projection, seq, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as updated_at
    from projection_checkpoints where projection = ${projection}`;
  return r ? { projection: r.projection, seq: Number(r.seq), updatedAt: r.updated_at } : undefined;
}
