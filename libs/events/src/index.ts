export {
  TenantSchema,
  EventTypeSchema,
  TraceparentSchema,
  EventInputSchema,
  EventEnvelopeSchema,
  type EventInput,
  type EventEnvelope,
  type StoredEvent,
} from './envelope.ts';
export { newEventId, dedupeId, deterministicId } from './ids.ts';
export {
  type SubjectScheme,
  DEFAULT_SUBJECT_ROOT,
  DEFAULT_PARTITIONS,
  defaultSubjectScheme,
  fnv1a32,
  partitionOf,
  eventSubject,
  eventFilter,
  parseEventSubject,
  quarantineSubject,
  derivedSubject,
  derivedFilter,
  lateSubject,
} from './subjects.ts';
export { SensorReadingSchema, OrderPlacedSchema, eventDataSchemas, type SensorReading, type OrderPlaced } from './types.ts';
export { ErrorCode, TidewayError, isTidewayError, type FieldIssue } from './errors.ts';
export { validateEventInput, toEnvelope, fieldIssues, DEFAULT_CONTENT_TYPE } from './normalize.ts';
export {
  DerivedEventType,
  LineageSchema,
  InputRefSchema,
  WindowResultSchema,
  AnomalyDetectedSchema,
  AlertRaisedSchema,
  derivedDataSchemas,
  type Lineage,
  type WindowResultData,
  type AnomalyDetectedData,
  type AlertRaisedData,
} from './derived.ts';
export { parseTime } from './time.ts';
