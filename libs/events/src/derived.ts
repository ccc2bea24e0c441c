import { z } from 'zod';

/**
 * Payload schemas of the events Tideway's stream processor derives from other events. They are ordinary
 * CloudEvents on `<root>.drv.<tenant>.<partition>.<type>` subjects (see `derivedSubject`), with deterministic ids,
 * `causationid` pointing at the input that caused them, and the input stream positions in `data.lineage`.
 */
export const DerivedEventType = {
  WindowResult: 'tideway.window.result',
  AnomalyDetected: 'tideway.anomaly.detected',
  AlertRaised: 'tideway.alert.raised',
} as const;
export type DerivedEventType = (typeof DerivedEventType)[keyof typeof DerivedEventType];

const RFC3339 = z.iso.datetime({ offset: true });

/** Where a derived event came from, in stream positions of the pipeline's source stream. */
export const LineageSchema = z.object({
  /** The partition of the input subject (`<root>.evt.<tenant>.<partition>.…`). */
  partition: z.number().int().min(0),
  /** Smallest and largest stream sequence of the inputs aggregated into this event. */
  firstSeq: z.number().int().min(1),
  lastSeq: z.number().int().min(1),
  /** The stream sequence whose processing emitted this event (the input that closed a window, or the input scored). */
  emittedAtSeq: z.number().int().min(0),
});
export type Lineage = z.infer<typeof LineageSchema>;

/** The input event a derived event is about. */
export const InputRefSchema = z.object({ id: z.string(), source: z.string(), seq: z.number().int().min(1) });

/** `tideway.window.result`: the aggregate of one event-time window of one key. */
export const WindowResultSchema = z.object({
  pipeline: z.string(),
  /** The pipeline's window stage that produced it (a pipeline may aggregate several windows). */
  stage: z.string(),
  key: z.string(),
  /** The window `[start, end)`; `key` repeats the series key (as in `@tideway/operators`' `WindowRef`); the processor always sets it. */
  window: z.object({ key: z.string().optional(), start: RFC3339, end: RFC3339 }),
  /** The aggregate's name (`stats`, `count`, …) and its result. */
  aggregate: z.string(),
  value: z.unknown(),
  /** Events aggregated. */
  count: z.number().int().min(0),
  /** No further result for this window follows. */
  final: z.boolean(),
  /** A preview of a window that is still open (live mode, emitted when the partition went quiet); not final. */
  provisional: z.boolean(),
  /** Late events incorporated after the first result (0 for the on-time result). */
  updateCount: z.number().int().min(0),
  trigger: z.enum(['watermark', 'late-event', 'idle', 'end-of-stream']),
  /** Session windows this one supersedes (a late event merged them). */
  replaces: z.array(z.object({ start: RFC3339, end: RFC3339 })),
  lineage: LineageSchema,
});
export type WindowResultData = z.infer<typeof WindowResultSchema>;

/** `tideway.anomaly.detected`: one input whose anomaly score reached the pipeline's threshold. */
export const AnomalyDetectedSchema = z.object({
  pipeline: z.string(),
  stage: z.string(),
  key: z.string(),
  value: z.number(),
  /** Anomaly score in [0, 1]. */
  score: z.number().min(0).max(1),
  threshold: z.number().min(0).max(1),
  /** Each detector's own score. */
  components: z.record(z.string(), z.number()),
  /** The input's event time. */
  eventTime: RFC3339,
  input: InputRefSchema,
  lineage: LineageSchema,
});
export type AnomalyDetectedData = z.infer<typeof AnomalyDetectedSchema>;

/** `tideway.alert.raised`: the first anomaly of a key after its cooldown. */
export const AlertRaisedSchema = z.object({
  pipeline: z.string(),
  stage: z.string(),
  key: z.string(),
  value: z.number(),
  score: z.number().min(0).max(1),
  threshold: z.number().min(0).max(1),
  /** When it happened (the anomaly's event time). */
  at: RFC3339,
  /** Anomalies of this key folded into the previous alert during its cooldown. */
  suppressedBefore: z.number().int().min(0),
  /** Id of the `tideway.anomaly.detected` event that opened the alert. */
  anomalyId: z.string(),
  /** One human-readable line, as a notifier posts it. */
  summary: z.string(),
  input: InputRefSchema,
  lineage: LineageSchema,
});
export type AlertRaisedData = z.infer<typeof AlertRaisedSchema>;

/** Payload schemas of the derived event types, by type. */
export const derivedDataSchemas: Readonly<Record<DerivedEventType, z.ZodType>> = {
  [DerivedEventType.WindowResult]: WindowResultSchema,
  [DerivedEventType.AnomalyDetected]: AnomalyDetectedSchema,
  [DerivedEventType.AlertRaised]: AlertRaisedSchema,
};
