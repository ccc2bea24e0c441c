import type postgres from 'postgres';
import { likePattern, type PayloadPredicate } from './predicates.ts';

/** A piece of SQL with bound parameters (a postgres.js fragment). */
export type Fragment = postgres.PendingQuery<postgres.Row[]>;

/** `time` as RFC 3339 UTC with microseconds: sorts as text exactly as the timestamps sort. */
export const TIME_KEY = `to_char(time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const COMPARE: Record<'gt' | 'gte' | 'lt' | 'lte', string> = { gt: '>', gte: '>=', lt: '<', lte: '<=' };

/**
 * The SQL condition of a payload predicate. The field path and every operand are bound parameters; the only
 * text spliced into SQL comes from the closed set of operators above.
 */
export function predicateSql(sql: postgres.Sql, p: PayloadPredicate): Fragment {
  const path = [...p.path];
  const text = sql`(data #>> ${path}::text[])`;
  const num = sql`(case when jsonb_typeof(data #> ${path}::text[]) = 'number' then (data #>> ${path}::text[])::numeric end)`;
  const eq = (i: number): Fragment =>
    p.numbers === undefined ? sql`${text} = ${p.values[i]!}` : sql`(${text} = ${p.values[i]!} or coalesce(${num} = ${p.numbers[i]!}::numeric, false))`;
  switch (p.op) {
    case 'eq':
      return eq(0);
    case 'neq':
      return sql`(${text} is not null and not ${eq(0)})`;
    case 'in':
      return p.numbers === undefined
        ? sql`${text} = any(${[...p.values]}::text[])`
        : sql`(${text} = any(${[...p.values]}::text[]) or coalesce(${num} = any(${p.numbers.map(String)}::text[]::numeric[]), false))`;
    case 'like':
      return sql`${text} like ${likePattern(p.values[0]!)}`;
    default: {
      const op = sql.unsafe(COMPARE[p.op]);
      return p.numbers === undefined
        ? sql`(jsonb_typeof(data #> ${path}::text[]) = 'string' and ${text} collate "C" ${op} ${p.values[0]!} collate "C")`
        : sql`${num} ${op} ${p.numbers[0]!}::numeric`;
    }
  }
}

/** Joins conditions with `and` (`true` when there are none). */
export function and(sql: postgres.Sql, conditions: readonly Fragment[]): Fragment {
  if (conditions.length === 0) return sql`true`;
  return conditions.slice(1).reduce((acc, c) => sql`${acc} and ${c}`, conditions[0]!);
}
