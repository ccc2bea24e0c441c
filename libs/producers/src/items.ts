import { validateEventInput, type EventInput, type FieldIssue } from '@tideway/events';
import { invalidEvent } from './request.ts';

/**
 * What a validator says about one candidate event. A gateway with a schema registry passes its own, which also
 * reports the schema version it checked and a short reason category (`envelope`, `schema`).
 */
export type EventValidation =
  | { readonly ok: true; readonly value: EventInput; readonly schemaVersion?: number }
  | {
      readonly ok: false;
      readonly issues: readonly FieldIssue[];
      readonly schemaVersion?: number;
      readonly reason?: string;
    };

/**
 * Validates one candidate event (the envelope, then its payload); `index` prefixes the issue pointers. The default
 * is `validateEventInput` of `@tideway/events`.
 */
export type EventValidator = (candidate: unknown, index?: number) => EventValidation;

/** The default validator: the envelope schema and the payload schemas of `@tideway/events`. */
export const defaultEventValidator: EventValidator = (candidate, index) => validateEventInput(candidate, index);

/** The bytes a producer sent for one item, kept so that an invalid item can be quarantined as it was sent. */
export interface OriginalItem {
  /** The item's own bytes (a binary-mode body, an NDJSON line) or its JSON text (an element of a JSON array). */
  readonly payload: Uint8Array | string;
  /** Media type of `payload`. */
  readonly contentType: string;
}

/** The outcome of parsing one item of a request: an event, or why it is not one plus what was sent. */
export type ParsedItem =
  | { readonly index: number; readonly ok: true; readonly event: EventInput; readonly schemaVersion?: number }
  | {
      readonly index: number;
      readonly ok: false;
      readonly issues: readonly FieldIssue[];
      readonly original: OriginalItem;
      readonly schemaVersion?: number;
      /** Short category for the quarantine subject: `envelope`, `schema`, `unparseable`… */
      readonly reason: string;
    };

/** The original of a JSON item: its JSON text (`undefined` becomes `null`). */
export function jsonOriginal(item: unknown): OriginalItem {
  let payload: string;
  try {
    payload = JSON.stringify(item) ?? 'null';
  } catch {
    payload = String(item);
  }
  return { payload, contentType: 'application/json' };
}

/** The quarantine reason of a failed item: the validator's, else `schema` when only `data` is at fault, else `envelope`. */
export function reasonOf(issues: readonly FieldIssue[], reason: string | undefined): string {
  if (reason !== undefined) return reason;
  const dataOnly = issues.length > 0 && issues.every((issue) => /^(\/\d+)?\/data(\/|$)/.test(issue.pointer));
  return dataOnly ? 'schema' : 'envelope';
}

/**
 * The events of a parse, or `invalid-event` with every issue when any item failed (all-or-nothing callers).
 * `single` reports a lone item's first issue as the message even when the request is a batch of one.
 */
export function eventsOrThrow(items: readonly ParsedItem[], single = false): EventInput[] {
  const issues = items.flatMap((item) => (item.ok ? [] : item.issues));
  if (issues.length > 0) throw invalidEvent(issues, single ? 1 : items.length);
  return items.map((item) => (item.ok ? item.event : undefined)).filter((e): e is EventInput => e !== undefined);
}
