import type postgres from 'postgres';
import { ErrorCode, TidewayError } from '@tideway/events';
import type { WarmStore } from '@tideway/warm';
import { PAYLOAD_FIELD_PATTERN, type PayloadPredicate } from './predicates.ts';
import { and, predicateSql, type Fragment } from './sql.ts';

/** Aggregate functions: `count`, `sum`, `avg`, `min`, `max` and percentiles `p<n>` (`p50`, `p95`, `p99.9`). */
export const AGGREGATE_FUNCTION_PATTERN = /^(count|sum|avg|min|max|p(\d{1,2}(\.\d{1,2})?))$/;

/** Fields an aggregation can group by: event attributes, or a payload field. */
export const GROUP_ATTRIBUTES = ['type', 'source', 'subject', 'entity_type', 'entity_id'] as const;

/** A bucket width: a number and a unit (`30s`, `5m`, `1h`, `1d`). */
export const BUCKET_PATTERN = /^([1-9]\d{0,4})(s|m|h|d)$/;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Seconds in a bucket width (see {@link BUCKET_PATTERN}). */
export function bucketSeconds(bucket: string): number {
  const m = BUCKET_PATTERN.exec(bucket);
  if (!m) throw new TidewayError(ErrorCode.InvalidQuery, 'bucket is not valid', { issues: [{ pointer: '/bucket', message: 'a number and a unit s|m|h|d, e.g. 5m' }] });
  return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}

export interface AggregateRequest {
  readonly tenant: string;
  readonly type?: string;
  readonly source?: string;
  readonly subject?: string;
  readonly predicates?: readonly PayloadPredicate[];
  /** Event time range [from, to), required: aggregations always have bounds. */
  readonly from: string;
  readonly to: string;
  readonly bucket: string;
  /** Up to two grouping fields: an attribute of {@link GROUP_ATTRIBUTES} or `data.<path>`. */
  readonly groupBy: readonly string[];
  readonly functions: readonly string[];
  /** The numeric payload field the functions other than `count` read, e.g. `data.reading_value`. */
  readonly value?: string;
  /** Most rows returned (buckets × groups). */
  readonly maxRows: number;
}

/** One bucket of one group. Non-numeric and missing values are ignored by every function but `count`. */
export interface AggregateRow {
  readonly bucket: string;
  readonly group: Record<string, string | null>;
  readonly values: Record<string, number | null>;
}

function groupExpression(sql: postgres.Sql, field: string): Fragment {
  if ((GROUP_ATTRIBUTES as readonly string[]).includes(field)) return sql`${sql(field)}`;
  if (PAYLOAD_FIELD_PATTERN.test(field)) return sql`(data #>> ${field.split('.').slice(1)}::text[])`;
  throw new TidewayError(ErrorCode.InvalidQuery, 'group_by is not valid', {
    issues: [{ pointer: '/group_by', message: `group by one of ${GROUP_ATTRIBUTES.join(', ')} or data.<field>` }],
  });
}

/**
 * Ad-hoc aggregation computed in PostgreSQL: the matching events of a bounded range, bucketed by event time
 * (`date_bin`, buckets aligned to the Unix epoch) and up to two fields, with count/sum/avg/min/max and
 * percentiles (`percentile_cont`) of one numeric payload field. Every field and value is a bound parameter.
 */
export async function aggregateEvents(store: WarmStore, r: AggregateRequest): Promise<{ rows: AggregateRow[]; truncated: boolean }> {
  const { sql } = store;
  const issues = [];
  if (r.groupBy.length > 2) issues.push({ pointer: '/group_by', message: 'at most two fields' });
  if (r.functions.length === 0) issues.push({ pointer: '/fn', message: 'at least one function' });
  for (const f of r.functions) if (!AGGREGATE_FUNCTION_PATTERN.test(f)) issues.push({ pointer: '/fn', message: `unknown function ${f}` });
  const needsValue = r.functions.some((f) => f !== 'count');
  if (needsValue && (r.value === undefined || !PAYLOAD_FIELD_PATTERN.test(r.value))) {
    issues.push({ pointer: '/value', message: 'functions other than count need value=data.<numeric field>' });
  }
  if (issues.length > 0) throw new TidewayError(ErrorCode.InvalidQuery, 'the aggregation is not valid', { issues });

  const valuePath = r.value === undefined ? [] : r.value.split('.').slice(1);
  const v = sql`(case when jsonb_typeof(data #> ${valuePath}::text[]) = 'number' then (data #>> ${valuePath}::text[])::float8 end)`;
  const columns: Fragment[] = r.functions.map((f) => {
    const alias = sql(f);
    if (f === 'count') return sql`count(*)::float8 as ${alias}`;
    if (f === 'sum' || f === 'avg' || f === 'min' || f === 'max') return sql`${sql.unsafe(f)}(${v})::float8 as ${alias}`;
    const fraction = Number(f.slice(1)) / 100;
    return sql`percentile_cont(${fraction}::float8) within group (order by ${v}) as ${alias}`;
  });
  const groups = r.groupBy.map((g, i) => sql`${groupExpression(sql, g)} as ${sql(`g${i}`)}`);
  const conditions: Fragment[] = [sql`tenant = ${r.tenant}`, sql`time >= ${r.from}::timestamptz`, sql`time < ${r.to}::timestamptz`];
  if (r.type !== undefined) conditions.push(sql`type = ${r.type}`);
  if (r.source !== undefined) conditions.push(sql`source = ${r.source}`);
  if (r.subject !== undefined) conditions.push(sql`subject = ${r.subject}`);
  for (const p of r.predicates ?? []) conditions.push(predicateSql(sql, p));
  const seconds = bucketSeconds(r.bucket);
  const select = [sql`to_char(date_bin(make_interval(secs => ${seconds}), time, 'epoch'::timestamptz) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as bucket`, ...groups, ...columns];
  const list = select.slice(1).reduce((acc, c) => sql`${acc}, ${c}`, select[0]!);
  const groupPositions = sql.unsafe(Array.from({ length: 1 + groups.length }, (_, i) => String(i + 1)).join(', '));
  const rows = await sql<Record<string, string | number | null>[]>`
    select ${list} from events where ${and(sql, conditions)}
    group by ${groupPositions} order by ${groupPositions} limit ${r.maxRows + 1}`;
  return {
    truncated: rows.length > r.maxRows,
    rows: rows.slice(0, r.maxRows).map((row) => ({
      bucket: row['bucket'] as string,
      group: Object.fromEntries(r.groupBy.map((g, i) => [g, (row[`g${i}`] as string | null) ?? null])),
      values: Object.fromEntries(r.functions.map((f) => [f, row[f] === null || row[f] === undefined ? null : Number(row[f])])),
    })),
  };
}
