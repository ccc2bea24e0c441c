import type postgres from 'postgres';
import { ErrorCode, TidewayError } from '@tideway/events';
import type { WarmStore } from '@tideway/warm';

/** The event type of an alert acknowledgement; its subject is the alert id (see `alertAcknowledgementEvent`). */
export const ALERT_ACKNOWLEDGED = 'tideway.alert.acknowledged';

/** RFC 3339 UTC with microseconds, as every analytics read returns times. */
const iso = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

function encode(kind: string, key: readonly unknown[]): string {
  return Buffer.from(JSON.stringify({ k: kind, v: key })).toString('base64url');
}

function decode(kind: string, cursor: string, arity: number): string[] {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown; v?: unknown };
    if (parsed.k !== kind || !Array.isArray(parsed.v) || parsed.v.length !== arity || !parsed.v.every((x) => typeof x === 'string' && x.length <= 1024)) {
      throw new Error('bad cursor shape');
    }
    const values = parsed.v as string[];
    return values;
  } catch (cause) {
    throw new TidewayError(ErrorCode.InvalidQuery, 'cursor is not valid', { issues: [{ pointer: '/cursor', message: 'not a cursor of this listing' }] }, { cause });
  }
}

/** One window result (`window_results`). Times are RFC 3339 UTC. */
export interface WindowResultRow {
  readonly pipeline: string;
  readonly stage: string;
  readonly key: string;
  readonly window_start: string;
  readonly window_end: string;
  readonly aggregate: string;
  readonly value: unknown;
  readonly count: number;
  readonly final: boolean;
  readonly provisional: boolean;
  readonly update_count: number;
  readonly trigger: string;
  readonly event_id: string;
  readonly seq: number;
}

export interface WindowResultQuery {
  readonly tenant: string;
  readonly pipeline: string;
  readonly stage?: string;
  readonly key?: string;
  /** Window start at or after (RFC 3339). */
  readonly from?: string;
  /** Window start before (RFC 3339). */
  readonly to?: string;
  readonly final?: boolean;
  readonly limit: number;
  readonly cursor?: string;
}

/** One anomaly (`anomalies`). */
export interface AnomalyRow {
  readonly id: string;
  readonly pipeline: string;
  readonly stage: string;
  readonly key: string;
  readonly value: number;
  readonly score: number;
  readonly threshold: number;
  readonly components: Record<string, number>;
  readonly event_time: string;
  readonly input: unknown;
  readonly seq: number;
}

/** One alert (`alerts`) with its acknowledgement, if any. */
export interface AlertRow {
  readonly id: string;
  readonly pipeline: string;
  readonly stage: string;
  readonly key: string;
  readonly value: number;
  readonly score: number;
  readonly threshold: number;
  readonly at: string;
  readonly summary: string;
  readonly anomaly_id: string;
  readonly suppressed_before: number;
  readonly seq: number;
  readonly status: 'open' | 'acknowledged';
  readonly acknowledged_at: string | null;
  readonly acknowledged_by: string | null;
  readonly note: string | null;
}

export interface SignalQuery {
  readonly tenant: string;
  readonly pipeline?: string;
  readonly key?: string;
  /** Time at or after (RFC 3339). */
  readonly from?: string;
  /** Time before (RFC 3339). */
  readonly to?: string;
  /** Lowest score. */
  readonly minScore?: number;
  readonly limit: number;
  readonly cursor?: string;
}

export interface AlertQuery extends SignalQuery {
  readonly status?: 'open' | 'acknowledged';
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

const numbers = <T extends object>(row: T, keys: readonly string[]): T => {
  const out = { ...row } as Record<string, unknown>;
  for (const k of keys) if (out[k] !== null && out[k] !== undefined) out[k] = Number(out[k]);
  return out as T;
};

/**
 * Reads the warm tables of derived events for the query API — `window_results`, `anomalies`, `alerts` (written
 * by the warm derived projection) — and alert acknowledgements, which are `tideway.alert.acknowledged` events
 * folded into `entity_state` (entity type = that event type, entity id = the alert id). Every listing is
 * keyset-paginated with an opaque cursor, so a walk neither skips nor repeats rows while new ones arrive.
 */
export class AnalyticsReader {
  private readonly sql: postgres.Sql;

  constructor(store: WarmStore) {
    this.sql = store.sql;
  }

  /** Window results of a pipeline, oldest window first (window start, stage, key, window end). */
  async windowResults(q: WindowResultQuery): Promise<Page<WindowResultRow>> {
    const { sql } = this;
    const after = q.cursor ? decode('window', q.cursor, 4) : undefined;
    const rows = await sql<WindowResultRow[]>`
      select pipeline, stage, key, ${sql.unsafe(iso('window_start'))} as window_start, ${sql.unsafe(iso('window_end'))} as window_end,
             aggregate, value, count, final, provisional, update_count, trigger, event_id, seq
      from window_results
      where tenant = ${q.tenant} and pipeline = ${q.pipeline}
        ${q.stage === undefined ? sql`` : sql`and stage = ${q.stage}`}
        ${q.key === undefined ? sql`` : sql`and key = ${q.key}`}
        ${q.from === undefined ? sql`` : sql`and window_start >= ${q.from}::timestamptz`}
        ${q.to === undefined ? sql`` : sql`and window_start < ${q.to}::timestamptz`}
        ${q.final === undefined ? sql`` : sql`and final = ${q.final}`}
        ${after ? sql`and (window_start, stage, key, window_end) > (${after[0]!}::timestamptz, ${after[1]!}, ${after[2]!}, ${after[3]!}::timestamptz)` : sql``}
      order by window_start, stage, key, window_end
      limit ${q.limit + 1}`;
    const items = rows.slice(0, q.limit).map((r) => numbers(r, ['count', 'update_count', 'seq']));
    const last = items.at(-1);
    return { items, ...(rows.length > q.limit && last ? { nextCursor: encode('window', [last.window_start, last.stage, last.key, last.window_end]) } : {}) };
  }

  /** Anomalies, newest first (event time, then id). */
  async anomalies(q: SignalQuery): Promise<Page<AnomalyRow>> {
    const { sql } = this;
    const before = q.cursor ? decode('anomalies', q.cursor, 2) : undefined;
    const rows = await sql<AnomalyRow[]>`
      select id, pipeline, stage, key, value, score, threshold, components, ${sql.unsafe(iso('event_time'))} as event_time, input, seq
      from anomalies
      where tenant = ${q.tenant}
        ${q.pipeline === undefined ? sql`` : sql`and pipeline = ${q.pipeline}`}
        ${q.key === undefined ? sql`` : sql`and key = ${q.key}`}
        ${q.from === undefined ? sql`` : sql`and event_time >= ${q.from}::timestamptz`}
        ${q.to === undefined ? sql`` : sql`and event_time < ${q.to}::timestamptz`}
        ${q.minScore === undefined ? sql`` : sql`and score >= ${q.minScore}`}
        ${before ? sql`and (event_time, id) < (${before[0]!}::timestamptz, ${before[1]!})` : sql``}
      order by event_time desc, id desc
      limit ${q.limit + 1}`;
    const items = rows.slice(0, q.limit).map((r) => numbers(r, ['value', 'score', 'threshold', 'seq']));
    const last = items.at(-1);
    return { items, ...(rows.length > q.limit && last ? { nextCursor: encode('anomalies', [last.event_time, last.id]) } : {}) };
  }

  /** Alerts with their acknowledgement, newest first (time, then id). */
  async alerts(q: AlertQuery): Promise<Page<AlertRow>> {
    return this.alertRows(q);
  }

  /** One alert with its acknowledgement. */
  async alert(tenant: string, id: string): Promise<AlertRow | undefined> {
    return (await this.alertRows({ tenant, limit: 1 }, id)).items[0];
  }

  private async alertRows(q: AlertQuery, id?: string): Promise<Page<AlertRow>> {
    const { sql } = this;
    const before = q.cursor ? decode('alerts', q.cursor, 2) : undefined;
    const rows = await sql<AlertRow[]>`
      select a.id, a.pipeline, a.stage, a.key, a.value, a.score, a.threshold, ${sql.unsafe(iso('a.at'))} as at, a.summary,
             a.anomaly_id, a.suppressed_before, a.seq,
             case when s.entity_id is null then 'open' else 'acknowledged' end as status,
             s.state ->> 'last_time' as acknowledged_at,
             s.state -> 'last' ->> 'by' as acknowledged_by,
             s.state -> 'last' ->> 'note' as note
      from alerts a
        left join entity_state s on s.tenant = a.tenant and s.entity_type = ${ALERT_ACKNOWLEDGED} and s.entity_id = a.id
      where a.tenant = ${q.tenant}
        ${id === undefined ? sql`` : sql`and a.id = ${id}`}
        ${q.pipeline === undefined ? sql`` : sql`and a.pipeline = ${q.pipeline}`}
        ${q.key === undefined ? sql`` : sql`and a.key = ${q.key}`}
        ${q.from === undefined ? sql`` : sql`and a.at >= ${q.from}::timestamptz`}
        ${q.to === undefined ? sql`` : sql`and a.at < ${q.to}::timestamptz`}
        ${q.minScore === undefined ? sql`` : sql`and a.score >= ${q.minScore}`}
        ${q.status === 'open' ? sql`and s.entity_id is null` : sql``}
        ${q.status === 'acknowledged' ? sql`and s.entity_id is not null` : sql``}
        ${before ? sql`and (a.at, a.id) < (${before[0]!}::timestamptz, ${before[1]!})` : sql``}
      order by a.at desc, a.id desc
      limit ${q.limit + 1}`;
    const items = rows.slice(0, q.limit).map((r) => numbers(r, ['value', 'score', 'threshold', 'suppressed_before', 'seq']));
    const last = items.at(-1);
    return { items, ...(rows.length > q.limit && last ? { nextCursor: encode('alerts', [last.at, last.id]) } : {}) };
  }
}
