/**
 * Schema evolution of the cold files: top-level scalar payload fields become typed Parquet columns
 * (`data_<field>`) without any DDL. A field's column is registered, per tenant and event type, by the first
 * event (in stream order) that carries it with a scalar value, and keeps that type for good. An event whose
 * value has another type is a type conflict: the projection's `reject` hook sends it to quarantine. Every
 * payload also stays whole in the `data` JSON column, so nothing is lost to flattening.
 */

/** Parquet types of flattened columns. */
export type FlatType = 'STRING' | 'DOUBLE' | 'BOOLEAN';

/** A flattened payload column of one tenant and event type. */
export interface FlatColumn {
  /** Parquet column name: `data_<field>`. */
  readonly name: string;
  /** Top-level `data` field. */
  readonly field: string;
  readonly type: FlatType;
  /** Sequence of the event that introduced the column. */
  readonly firstSeq: number;
}

/** Field names that get a column: identifier-like, so the column name needs no quoting in SQL engines. */
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The Parquet column of a payload field. */
export function flatColumnName(field: string): string {
  return `data_${field}`;
}

/** The flattened type of a JSON value, or undefined for null, objects and arrays (kept in `data` only). */
export function flatTypeOf(value: unknown): FlatType | undefined {
  switch (typeof value) {
    case 'string':
      return 'STRING';
    case 'number':
      return Number.isFinite(value) ? 'DOUBLE' : undefined;
    case 'boolean':
      return 'BOOLEAN';
    default:
      return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value row `data` holds for `column`, or null when absent or of another type. */
export function flatValue(data: unknown, column: FlatColumn): string | number | boolean | null {
  if (!isRecord(data)) return null;
  const value = data[column.field];
  return flatTypeOf(value) === column.type ? (value as string | number | boolean) : null;
}

/** What an event means for the columns of its tenant and type. */
export interface FieldPlan {
  /** Why the event cannot be stored (a type conflict), or undefined. */
  readonly conflict?: string;
  /** Columns the event introduces. */
  readonly additions: readonly FlatColumn[];
}

/** A read view of one tenant and type's columns, as seen by one event. */
interface ColumnView {
  byField(field: string): FlatColumn | undefined;
  /** The column whose lower-cased name is `lower`, if any (SQL engines fold case: `data_A` clashes with `data_a`). */
  byLowerName(lower: string): FlatColumn | undefined;
  readonly size: number;
}

/** Plans one event's fields against the columns it sees. Pure: the same inputs always give the same plan. */
export function planFields(view: ColumnView, data: unknown, seq: number, maxColumns: number): FieldPlan {
  if (!isRecord(data) || maxColumns <= 0) return { additions: [] };
  const additions: FlatColumn[] = [];
  const conflicts: string[] = [];
  for (const [field, value] of Object.entries(data)) {
    const type = flatTypeOf(value);
    if (type === undefined || !FIELD_NAME.test(field)) continue;
    const column = view.byField(field);
    if (column) {
      if (column.type !== type) {
        conflicts.push(`data.${field} is ${type}, but cold column ${column.name} holds ${column.type} (since seq ${column.firstSeq})`);
      }
      continue;
    }
    const name = flatColumnName(field);
    const lower = name.toLowerCase();
    if (view.byLowerName(lower) || additions.some((a) => a.name.toLowerCase() === lower)) continue;
    if (view.size + additions.length >= maxColumns) continue;
    additions.push({ name, field, type, firstSeq: seq });
  }
  return conflicts.length > 0 ? { conflict: `type conflict: ${conflicts.join('; ')}`, additions: [] } : { additions };
}

/** A column with the tenant and event type it belongs to. */
export interface RegisteredColumn {
  readonly tenant: string;
  readonly eventType: string;
  readonly column: FlatColumn;
}

const groupKey = (tenant: string, type: string): string => `${tenant}\u0000${type}`;

class ColumnGroup {
  readonly fields = new Map<string, FlatColumn>();
  readonly lower = new Map<string, FlatColumn>();
  add(column: FlatColumn): void {
    this.fields.set(column.field, column);
    this.lower.set(column.name.toLowerCase(), column);
  }
  clone(): ColumnGroup {
    const copy = new ColumnGroup();
    for (const c of this.fields.values()) copy.add(c);
    return copy;
  }
}

/**
 * The projection's flattened columns: those committed, plus those that events of the batch being checked
 * introduced (pending). `check` (the port's synchronous `reject` hook) sees the committed columns and the
 * pending ones introduced by events *earlier in the stream* than the event checked, so the verdict depends
 * only on stream order, never on where batches happened to be cut: a crashed and restarted projector
 * quarantines exactly the events an uninterrupted one would.
 */
export class ColumnRegistry {
  private committed = new Map<string, ColumnGroup>();
  private pending = new Map<string, Map<string, FlatColumn>>();

  constructor(readonly maxColumns: number) {}

  /** Replaces the committed columns (after a (re)load from the manifest database). */
  load(columns: Iterable<RegisteredColumn>): void {
    this.committed = new Map();
    for (const { tenant, eventType, column } of columns) this.group(this.committed, tenant, eventType).add(column);
  }

  private group(map: Map<string, ColumnGroup>, tenant: string, type: string): ColumnGroup {
    const key = groupKey(tenant, type);
    let group = map.get(key);
    if (!group) map.set(key, (group = new ColumnGroup()));
    return group;
  }

  /** The committed columns of a tenant and type, by name. */
  columns(tenant: string, type: string): FlatColumn[] {
    return [...(this.committed.get(groupKey(tenant, type))?.fields.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * The reject verdict for an event: a type-conflict reason, or undefined (and the columns the event
   * introduces are remembered as pending, for the events after it).
   */
  check(tenant: string, type: string, data: unknown, seq: number): string | undefined {
    const key = groupKey(tenant, type);
    const committed = this.committed.get(key);
    const pending = this.pending.get(key);
    const earlier = (c: FlatColumn | undefined): FlatColumn | undefined => (c && c.firstSeq < seq ? c : undefined);
    let pendingBefore = 0;
    if (pending) for (const c of pending.values()) if (c.firstSeq < seq) pendingBefore++;
    const view: ColumnView = {
      byField: (field) => committed?.fields.get(field) ?? earlier(pending?.get(field)),
      byLowerName: (lower) => {
        const hit = committed?.lower.get(lower);
        if (hit) return hit;
        if (pending) for (const c of pending.values()) if (c.firstSeq < seq && c.name.toLowerCase() === lower) return c;
        return undefined;
      },
      size: (committed?.fields.size ?? 0) + pendingBefore,
    };
    const plan = planFields(view, data, seq, this.maxColumns);
    if (plan.conflict !== undefined) return plan.conflict;
    if (plan.additions.length > 0) {
      let map = pending;
      if (!map) this.pending.set(key, (map = new Map<string, FlatColumn>()));
      // An entry at or after `seq` is left from an attempt of this batch that failed: this event re-decides it.
      for (const c of map.values()) if (c.firstSeq >= seq) map.delete(c.field);
      for (const c of plan.additions) map.set(c.field, c);
    }
    return undefined;
  }

  /** Starts planning a batch for `apply`: a private copy-on-write view over the committed columns. */
  stage(): ColumnStage {
    return new ColumnStage(this.committed, this.maxColumns);
  }

  /** Makes a staged batch's columns committed, and forgets pending columns of events through `throughSeq`. */
  commit(stage: ColumnStage, throughSeq: number): void {
    for (const [key, group] of stage.changed) this.committed.set(key, group);
    for (const [key, map] of this.pending) {
      for (const c of map.values()) if (c.firstSeq <= throughSeq) map.delete(c.field);
      if (map.size === 0) this.pending.delete(key);
    }
  }
}

/** The columns of one batch being applied: the committed ones plus what the batch's events introduce. */
export class ColumnStage {
  readonly changed = new Map<string, ColumnGroup>();
  readonly additions: RegisteredColumn[] = [];

  constructor(
    private readonly committed: ReadonlyMap<string, ColumnGroup>,
    private readonly maxColumns: number,
  ) {}

  private current(key: string): ColumnGroup | undefined {
    return this.changed.get(key) ?? this.committed.get(key);
  }

  /**
   * Registers the columns an event introduces (events must come in stream order). Returns the conflict, if
   * any: the event is stored all the same (its conflicting value only in `data`), since only `reject` can
   * quarantine.
   */
  plan(tenant: string, type: string, data: unknown, seq: number): string | undefined {
    const key = groupKey(tenant, type);
    const group = this.current(key);
    const view: ColumnView = {
      byField: (field) => group?.fields.get(field),
      byLowerName: (lower) => group?.lower.get(lower),
      size: group?.fields.size ?? 0,
    };
    const plan = planFields(view, data, seq, this.maxColumns);
    if (plan.additions.length > 0) {
      let changed = this.changed.get(key);
      if (!changed) this.changed.set(key, (changed = group ? group.clone() : new ColumnGroup()));
      for (const c of plan.additions) {
        changed.add(c);
        this.additions.push({ tenant, eventType: type, column: c });
      }
    }
    return plan.conflict;
  }

  /** The columns of a tenant and type after this batch, by name. */
  columns(tenant: string, type: string): FlatColumn[] {
    return [...(this.current(groupKey(tenant, type))?.fields.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
