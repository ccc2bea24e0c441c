import {
  AlertRaisedSchema,
  AnomalyDetectedSchema,
  DerivedEventType,
  WindowResultSchema,
  type StoredEvent,
} from '@tideway/events';

/** How the hot store keeps a derived event. */
export type DerivedKind = 'window' | 'anomaly' | 'alert';

/**
 * Which event types the store keeps as window results, anomalies and alerts. Each kind's payload is parsed
 * with its schema in `@tideway/events` (`WindowResultSchema`, `AnomalyDetectedSchema`, `AlertRaisedSchema`).
 */
export interface DerivedRouting {
  readonly window: readonly string[];
  readonly anomaly: readonly string[];
  readonly alert: readonly string[];
}

/** The default {@link DerivedRouting}: the stream processor's `tideway.window.result`, `tideway.anomaly.detected`, `tideway.alert.raised`. */
export const defaultDerivedRouting: DerivedRouting = {
  window: [DerivedEventType.WindowResult],
  anomaly: [DerivedEventType.AnomalyDetected],
  alert: [DerivedEventType.AlertRaised],
};

/** A window of one key, in epoch ms. */
export interface WindowBounds {
  readonly start: number;
  readonly end: number;
}

/** A derived event as the hot store keeps it. */
export type DerivedItem =
  | {
      readonly kind: 'window';
      readonly pipeline: string;
      readonly stage: string;
      readonly key: string;
      readonly window: WindowBounds;
      readonly final: boolean;
      /** Windows of the same key a session merge superseded. */
      readonly replaces: readonly WindowBounds[];
    }
  | { readonly kind: 'anomaly' | 'alert'; readonly pipeline: string; readonly key: string; readonly time: number };

/** A window result as stored (and returned by the reader). */
export interface StoredWindowResult {
  /** Stream sequence of the derived event. */
  readonly seq: number;
  readonly id: string;
  readonly pipeline: string;
  readonly stage: string;
  readonly key: string;
  /** Window start and end, epoch ms. */
  readonly start: number;
  readonly end: number;
  readonly final: boolean;
  /** The event's `data` as published (`WindowResultData`: aggregate, value, count, trigger, lineage…). */
  readonly data: unknown;
}

/** An anomaly or alert as stored (and returned by the reader). */
export interface StoredSignal {
  readonly id: string;
  readonly type: string;
  readonly pipeline: string;
  readonly key: string;
  /** When it happened (the anomaly's event time), epoch ms: the sort order. */
  readonly at: number;
  readonly subject?: string;
  /** The event's `data` as published (`AnomalyDetectedData` or `AlertRaisedData`). */
  readonly data: unknown;
}

function firstIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.map(String).join('.') || '(data)'}: ${issue.message}` : 'invalid';
}

/** Parses a derived event's data (with its `@tideway/events` schema) into what the store keeps, or says why it cannot. */
export function parseDerived(
  kind: DerivedKind,
  stored: StoredEvent,
): { ok: true; item: DerivedItem } | { ok: false; reason: string } {
  const data = stored.event.data;
  if (kind === 'window') {
    const parsed = WindowResultSchema.safeParse(data);
    if (!parsed.success) return { ok: false, reason: `not a window result: ${firstIssue(parsed.error)}` };
    const { pipeline, stage, key, window, final, replaces } = parsed.data;
    const bounds = (w: { start: string; end: string }): WindowBounds => ({
      start: Date.parse(w.start),
      end: Date.parse(w.end),
    });
    return {
      ok: true,
      item: { kind, pipeline, stage, key, window: bounds(window), final, replaces: replaces.map(bounds) },
    };
  }
  if (kind === 'anomaly') {
    const parsed = AnomalyDetectedSchema.safeParse(data);
    if (!parsed.success) return { ok: false, reason: `not an anomaly: ${firstIssue(parsed.error)}` };
    return {
      ok: true,
      item: { kind, pipeline: parsed.data.pipeline, key: parsed.data.key, time: Date.parse(parsed.data.eventTime) },
    };
  }
  const parsed = AlertRaisedSchema.safeParse(data);
  if (!parsed.success) return { ok: false, reason: `not an alert: ${firstIssue(parsed.error)}` };
  return {
    ok: true,
    item: { kind, pipeline: parsed.data.pipeline, key: parsed.data.key, time: Date.parse(parsed.data.at) },
  };
}

/** The zset member of a window result. Holds the sequence: a later result of the same window replaces it. */
export function windowMember(stored: StoredEvent, item: Extract<DerivedItem, { kind: 'window' }>): string {
  const value: StoredWindowResult = {
    seq: stored.seq,
    id: stored.event.id,
    pipeline: item.pipeline,
    stage: item.stage,
    key: item.key,
    start: item.window.start,
    end: item.window.end,
    final: item.final,
    data: stored.event.data ?? null,
  };
  return JSON.stringify(value);
}

/**
 * The zset member of an anomaly or alert. It holds no stream sequence, so the same derived event published
 * twice (a processor re-emitting after a crash, same deterministic id and content) is one member.
 */
export function signalMember(stored: StoredEvent, item: Extract<DerivedItem, { kind: 'anomaly' | 'alert' }>): string {
  const { event } = stored;
  const value: StoredSignal = {
    id: event.id,
    type: event.type,
    pipeline: item.pipeline,
    key: item.key,
    at: item.time,
    ...(event.subject === undefined ? {} : { subject: event.subject }),
    data: event.data ?? null,
  };
  return JSON.stringify(value);
}
