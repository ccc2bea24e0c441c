export {
  PREDICATE_OPERATORS,
  PAYLOAD_FIELD_PATTERN,
  MAX_PREDICATES,
  parsePredicates,
  isPredicateParameter,
  matchesPredicate,
  likePattern,
  type PredicateOperator,
  type PayloadPredicate,
} from './predicates.ts';
export { encodeEventCursor, decodeEventCursor, compareKeys, timeKey, type EventCursor, type EventKey, type EventOrder } from './cursor.ts';
export { mergeSorted, InMemoryColdEventSource, type ColdEventSource, type ColdEventQuery, type EventRow } from './cold.ts';
export { EventSearch, type EventSearchFilter, type EventSearchPage } from './event-search.ts';
export {
  aggregateEvents,
  bucketSeconds,
  AGGREGATE_FUNCTION_PATTERN,
  GROUP_ATTRIBUTES,
  BUCKET_PATTERN,
  type AggregateRequest,
  type AggregateRow,
} from './aggregates.ts';
export { storedEventTypes, projectionCheckpoints, projectionCheckpoint, type ProjectionCheckpoint } from './catalog.ts';
