import { deterministicId, ErrorCode, TidewayError, type EventInput, type FieldIssue } from '@tideway/events';
import { defaultEventValidator, reasonOf, type EventValidator, type ParsedItem } from './items.ts';
import { jsonPointer, parseDateTime, parseJsonText } from './request.ts';

/** How a text cell is converted before mapping. `json` parses the cell as JSON. */
export type ColumnCast = 'string' | 'number' | 'integer' | 'boolean' | 'json';

/** How the rows of a file (CSV, Parquet, a JSON array…) become events. Column names refer to the row's keys. */
export interface RowMapping {
  /** Event type of every row, e.g. `commerce.order.placed`. */
  readonly type: string;
  /** CloudEvents `source` of every row, e.g. `s3://imports/orders`. */
  readonly source: string;
  /** Column holding the subject (and so the default partition key). */
  readonly subject?: string;
  /** Column holding the event time (see {@link rowToEvent} for accepted values). */
  readonly time?: string;
  /** Unit of numeric event times. Default `milliseconds`. */
  readonly timeUnit?: 'seconds' | 'milliseconds';
  /** Columns forming the row's natural key, used as the event id instead of the row position. */
  readonly idColumns?: readonly string[];
  /** Columns to put in `data`: a list, `rest` (all but the subject, time and id columns), or by default the whole row. */
  readonly data?: readonly string[] | 'rest';
  /** Conversions of cells before mapping, by column (CSV cells are text; blank cells become `null`). */
  readonly cast?: Readonly<Record<string, ColumnCast>>;
  /** Names of `data` fields, by column: `{ amt: 'amount' }` puts column `amt` in `data.amount`. */
  readonly rename?: Readonly<Record<string, string>>;
}

function castCell(value: unknown, cast: ColumnCast): { ok: true; value: unknown } | { ok: false; message: string } {
  if (cast === 'string') return { ok: true, value: scalarText(value) ?? value };
  if (typeof value !== 'string') return { ok: true, value };
  const text = value.trim();
  if (text === '') return { ok: true, value: null };
  switch (cast) {
    case 'number': {
      const n = Number(text);
      return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, message: `"${value}" is not a number` };
    }
    case 'integer': {
      const n = Number(text);
      return Number.isSafeInteger(n) ? { ok: true, value: n } : { ok: false, message: `"${value}" is not an integer` };
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (['true', 't', 'yes', 'y', '1'].includes(lower)) return { ok: true, value: true };
      if (['false', 'f', 'no', 'n', '0'].includes(lower)) return { ok: true, value: false };
      return { ok: false, message: `"${value}" is not a boolean` };
    }
    case 'json':
      try {
        return { ok: true, value: parseJsonText(text) };
      } catch {
        return { ok: false, message: 'is not valid JSON' };
      }
  }
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const NAIVE_DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const NUMBER = /^-?\d+(\.\d+)?$/;

/** A row value as a JSON-safe value: dates as ISO strings, bigints as strings. */
function jsonSafe(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** A scalar column value as text, `undefined` for blanks and for values that are not scalars. */
function scalarText(value: unknown): string | undefined {
  if (isBlank(value)) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return jsonSafe(value) as string;
  return undefined;
}

/** An event time from a cell: a Date, an ISO date-time (naive ones and bare dates are UTC), or a unix time. */
function timeOf(value: unknown, unit: 'seconds' | 'milliseconds'): string | undefined {
  let date: Date | undefined;
  if (value instanceof Date) date = value;
  else if (typeof value === 'number') date = new Date(unit === 'seconds' ? value * 1000 : value);
  else if (typeof value === 'string') {
    const text = value.trim();
    if (NUMBER.test(text)) date = new Date(unit === 'seconds' ? Number(text) * 1000 : Number(text));
    else if (DATE_ONLY.test(text)) date = new Date(`${text}T00:00:00Z`);
    else if (NAIVE_DATE_TIME.test(text)) date = new Date(`${text.replace(' ', 'T')}Z`);
    else date = parseDateTime(text);
  }
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * Maps one row of a file to an event input. The id is `deterministicId(fileIdentity, rowNumber)`, or the row's
 * natural key when `idColumns` is set (the value itself for one column, `deterministicId` of the values for several),
 * so loading the same file again — after a crash, or twice by mistake — produces the same ids and JetStream
 * de-duplicates them. `fileIdentity` must name the file's content, not just its path: an ETag, a version id or
 * a content hash.
 *
 * The time column takes a `Date`, an RFC 3339 date-time, a date-time without offset or a bare date (both read as
 * UTC), or a unix time (number or digits, in `timeUnit`); a blank time leaves `time` to the gateway. `data` values
 * are made JSON-safe (dates to ISO strings, bigints to strings).
 *
 * @param rowNumber the row's position in the file, as the loader counts it; it also indexes the issues.
 * @throws TidewayError `invalid-event` with issues pointing at the row's columns (`/<rowNumber>/<column>`).
 * @example
 * rowToEvent({ order_id: 'o-1', customer_id: 'c-9', amount: 30, order_date: '2025-03-01' },
 *   { type: 'commerce.order.placed', source: 'imports/orders', subject: 'customer_id', time: 'order_date' },
 *   'orders.csv@etag-3f2a', 1);
 */
export function rowToEvent(
  row: Readonly<Record<string, unknown>>,
  mapping: RowMapping,
  fileIdentity: string,
  rowNumber: number,
): EventInput {
  const item = rowToItem(row, mapping, fileIdentity, rowNumber);
  if (item.ok) return item.event;
  throw new TidewayError(
    ErrorCode.InvalidEvent,
    `row ${rowNumber} is invalid: ${item.issues[0]?.message ?? 'unknown issue'}`,
    { issues: item.issues },
  );
}

/**
 * {@link rowToEvent} without throwing: the event, or the row's issues with the row (as JSON) as its original, for a
 * loader that quarantines bad rows and goes on. `validate` replaces the default envelope and payload validation.
 */
export function rowToItem(
  input: Readonly<Record<string, unknown>>,
  mapping: RowMapping,
  fileIdentity: string,
  rowNumber: number,
  validate: EventValidator = defaultEventValidator,
): ParsedItem {
  const issues: FieldIssue[] = [];
  const report = (column: string, message: string) =>
    issues.push({ index: rowNumber, pointer: jsonPointer(rowNumber, column), message });
  let row = input;
  if (mapping.cast !== undefined) {
    const converted: Record<string, unknown> = { ...input };
    for (const [column, cast] of Object.entries(mapping.cast)) {
      if (!Object.hasOwn(input, column)) continue;
      const result = castCell(input[column], cast);
      if (result.ok) converted[column] = result.value;
      else report(column, `column "${column}" ${result.message}`);
    }
    row = converted;
  }
  const original = {
    payload: JSON.stringify(row, (_key, value: unknown) => jsonSafe(value)),
    contentType: 'application/json',
  };

  let id = deterministicId(fileIdentity, rowNumber);
  if (mapping.idColumns !== undefined && mapping.idColumns.length > 0) {
    const values = mapping.idColumns.map((column) => {
      const value = scalarText(row[column]);
      if (value === undefined) report(column, `id column "${column}" is blank or not a scalar`);
      return value ?? '';
    });
    const [only] = values;
    id = values.length === 1 && only !== undefined ? only : deterministicId(...values);
  }

  let subject: string | undefined;
  if (mapping.subject !== undefined) {
    const value = row[mapping.subject];
    subject = scalarText(value);
    if (subject === undefined && !isBlank(value))
      report(mapping.subject, `subject column "${mapping.subject}" is not a scalar`);
  }

  let time: string | undefined;
  if (mapping.time !== undefined && !isBlank(row[mapping.time])) {
    time = timeOf(row[mapping.time], mapping.timeUnit ?? 'milliseconds');
    if (time === undefined)
      report(mapping.time, `time column "${mapping.time}" is not a date-time, a date or a unix time`);
  }

  const attributeColumns = new Set([mapping.subject, mapping.time, ...(mapping.idColumns ?? [])]);
  const columns =
    mapping.data === undefined
      ? Object.keys(row)
      : mapping.data === 'rest'
        ? Object.keys(row).filter((column) => !attributeColumns.has(column))
        : mapping.data.filter((column) => Object.hasOwn(row, column));
  const data: Record<string, unknown> = {};
  for (const column of columns) {
    const value = row[column];
    if (value !== undefined) data[mapping.rename?.[column] ?? column] = jsonSafe(value);
  }

  const candidate = {
    specversion: '1.0',
    id,
    source: mapping.source,
    type: mapping.type,
    ...(subject === undefined ? {} : { subject }),
    ...(time === undefined ? {} : { time }),
    datacontenttype: 'application/json',
    data,
  };
  const result = validate(candidate, rowNumber);
  const version = result.schemaVersion === undefined ? {} : { schemaVersion: result.schemaVersion };
  if (result.ok && issues.length === 0) return { index: rowNumber, ok: true, event: result.value, ...version };
  if (!result.ok) {
    // A column already reported (a blank key, an unreadable time) is not reported again by the envelope or payload schema.
    const reported = new Set(issues.map((issue) => issue.pointer));
    for (const issue of result.issues) {
      const [, , attribute = '', ...path] = issue.pointer.split('/');
      const column =
        attribute === 'subject'
          ? mapping.subject
          : attribute === 'time'
            ? mapping.time
            : attribute === 'id'
              ? mapping.idColumns?.[0]
              : undefined;
      const pointer =
        column !== undefined
          ? jsonPointer(rowNumber, column)
          : attribute === 'data' && path.length > 0
            ? `/${rowNumber}/${path.join('/')}`
            : issue.pointer;
      if (!reported.has(pointer)) issues.push({ ...issue, pointer });
    }
  }
  return {
    index: rowNumber,
    ok: false,
    issues,
    original,
    reason: reasonOf(issues, result.ok ? undefined : result.reason),
    ...version,
  };
}
