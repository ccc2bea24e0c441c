import { ErrorCode, TidewayError, type FieldIssue } from '@tideway/events';

/** Comparison operators of payload predicates (PostgREST style: `data.value=gt.100`). */
export const PREDICATE_OPERATORS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'in'] as const;
export type PredicateOperator = (typeof PREDICATE_OPERATORS)[number];

/**
 * A payload field: `data.` then 1–8 dot-separated segments of `[A-Za-z0-9_]` (an all-digit segment indexes an
 * array). Nothing else reaches SQL, and even this travels as a bound `text[]` parameter.
 */
export const PAYLOAD_FIELD_PATTERN = /^data(\.[A-Za-z0-9_]{1,64}){1,8}$/;

/** Longest operand, and most values of an `in` list. */
const MAX_OPERAND = 512;
const MAX_IN_VALUES = 100;
/** Most predicates per request. */
export const MAX_PREDICATES = 16;

/** One parsed predicate on a payload field. */
export interface PayloadPredicate {
  /** The field as written, e.g. `data.sensor_id`. */
  readonly field: string;
  /** Path below `data`, e.g. `['sensor_id']`. */
  readonly path: readonly string[];
  readonly op: PredicateOperator;
  /** Operands as text: one, or several for `in`. */
  readonly values: readonly string[];
  /** The operands as numbers when every one is a JSON number literal, else undefined. */
  readonly numbers?: readonly number[];
}

const NUMBER_LITERAL = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

function asNumber(text: string): number | undefined {
  if (!NUMBER_LITERAL.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** Splits `(a,b,"c,d")` into values; double quotes protect commas and are unescaped with `\"`. */
function parseInList(text: string): string[] | undefined {
  if (!text.startsWith('(') || !text.endsWith(')')) return undefined;
  const inner = text.slice(1, -1);
  const values: string[] = [];
  let i = 0;
  while (i <= inner.length) {
    if (inner[i] === '"') {
      let value = '';
      i++;
      while (i < inner.length && inner[i] !== '"') {
        if (inner[i] === '\\' && i + 1 < inner.length) i++;
        value += inner[i];
        i++;
      }
      if (inner[i] !== '"') return undefined;
      i++;
      values.push(value);
      if (i < inner.length && inner[i] !== ',') return undefined;
      i++;
    } else {
      const end = inner.indexOf(',', i);
      const stop = end === -1 ? inner.length : end;
      values.push(inner.slice(i, stop));
      i = stop + 1;
    }
  }
  return values;
}

/** Is `key` a payload-predicate query parameter (`data.…`)? Only these may appear beside the declared parameters. */
export function isPredicateParameter(key: string): boolean {
  return key.startsWith('data.');
}

/**
 * Parses payload predicates from query parameters: `data.<path>=<op>.<operand>`, several per field allowed
 * (`data.value=gt.10&data.value=lt.20`, all must hold). Throws `invalid-query` naming every bad parameter.
 *
 * @example
 * parsePredicates({ 'data.sensor_id': 'eq.42', 'data.value': ['gt.100', 'lte.200'] });
 */
export function parsePredicates(params: Readonly<Record<string, string | readonly string[] | undefined>>): PayloadPredicate[] {
  const predicates: PayloadPredicate[] = [];
  const issues: FieldIssue[] = [];
  for (const [field, raw] of Object.entries(params)) {
    if (raw === undefined || !isPredicateParameter(field)) continue;
    const pointer = `/${field}`;
    if (!PAYLOAD_FIELD_PATTERN.test(field)) {
      issues.push({ pointer, message: 'a payload field is data. followed by 1-8 dot-separated names of [A-Za-z0-9_]' });
      continue;
    }
    for (const expression of typeof raw === 'string' ? [raw] : raw) {
      const dot = expression.indexOf('.');
      const op = (dot === -1 ? expression : expression.slice(0, dot)) as PredicateOperator;
      const operand = dot === -1 ? undefined : expression.slice(dot + 1);
      if (!PREDICATE_OPERATORS.includes(op) || operand === undefined) {
        issues.push({ pointer, message: `expected <op>.<value> with op one of ${PREDICATE_OPERATORS.join(', ')}` });
        continue;
      }
      if (operand.length > MAX_OPERAND + 2) {
        issues.push({ pointer, message: `operand longer than ${MAX_OPERAND} characters` });
        continue;
      }
      let values: string[];
      if (op === 'in') {
        const list = parseInList(operand);
        if (!list || list.length === 0 || list.length > MAX_IN_VALUES) {
          issues.push({ pointer, message: `in takes a list (a,b,"c,d") of 1-${MAX_IN_VALUES} values` });
          continue;
        }
        values = list;
      } else {
        values = [operand];
      }
      const numbers = values.map(asNumber);
      predicates.push({
        field,
        path: field.split('.').slice(1),
        op,
        values,
        ...(numbers.every((n) => n !== undefined) ? { numbers: numbers } : {}),
      });
    }
  }
  if (predicates.length > MAX_PREDICATES) issues.push({ pointer: '/', message: `at most ${MAX_PREDICATES} payload predicates` });
  if (issues.length > 0) throw new TidewayError(ErrorCode.InvalidQuery, 'payload predicates are invalid', { issues });
  return predicates;
}

/** `*` is accepted for `%` in `like` patterns (URL-friendly); `%` and `_` keep their SQL meaning. */
export function likePattern(value: string): string {
  const pattern = value.replaceAll('*', '%');
  // A lone trailing backslash escapes nothing (PostgreSQL refuses it): take it literally.
  const trailing = /\\+$/.exec(pattern)?.[0].length ?? 0;
  return trailing % 2 === 1 ? `${pattern}\\` : pattern;
}

function at(data: unknown, path: readonly string[]): unknown {
  let current = data;
  for (const segment of path) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) current = current[Number(segment)];
    else if (current !== null && typeof current === 'object' && !Array.isArray(current)) current = (current as Record<string, unknown>)[segment];
    else return undefined;
  }
  return current;
}

/** The text PostgreSQL's `#>>` gives a JSON value (strings unquoted, everything else as JSON). */
function asText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function like(text: string, pattern: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (ch === '%') re += '[\\s\\S]*';
    else if (ch === '_') re += '[\\s\\S]';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`).test(text);
}

/**
 * Evaluates a predicate on an event payload in JavaScript with the same semantics as the SQL that
 * {@link predicateSql} builds, for rows that come from the cold archive rather than PostgreSQL:
 *
 * - `eq`/`in`: the field's text equals an operand, or the field is a number equal to a numeric operand;
 * - `neq`: the field is present (not null) and `eq` does not hold;
 * - `gt`/`gte`/`lt`/`lte`: numeric when the operand is a number (only numeric fields match), else byte-wise text
 *   comparison of string fields;
 * - `like`: SQL LIKE on the field's text (`%`, `_`, `*` = `%`).
 */
export function matchesPredicate(data: unknown, p: PayloadPredicate): boolean {
  const value = at(data, p.path);
  const text = asText(value);
  const isNumber = typeof value === 'number';
  const equals = (i: number): boolean => text === p.values[i] || (isNumber && p.numbers !== undefined && value === p.numbers[i]);
  switch (p.op) {
    case 'eq':
      return text !== undefined && equals(0);
    case 'in':
      return text !== undefined && p.values.some((_, i) => equals(i));
    case 'neq':
      return text !== undefined && !equals(0);
    case 'like':
      return text !== undefined && like(text, likePattern(p.values[0]!));
    default: {
      let c: number;
      if (p.numbers !== undefined) {
        if (!isNumber) return false;
        c = value - p.numbers[0]!;
      } else {
        if (typeof value !== 'string') return false;
        // PostgreSQL compares with COLLATE "C": UTF-8 bytes.
        c = Buffer.compare(Buffer.from(value, 'utf8'), Buffer.from(p.values[0]!, 'utf8'));
      }
      return p.op === 'gt' ? c > 0 : p.op === 'gte' ? c >= 0 : p.op === 'lt' ? c < 0 : c <= 0;
    }
  }
}
