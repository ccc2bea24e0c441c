export { type HeadersLike, type ProducerRequest, headerValue } from './request.ts';
export { type DataEncoding, dataEncodingOf, decodeData } from './data-encoding.ts';
export {
  type CloudEventsMode,
  type CloudEventsOptions,
  cloudEventsMode,
  parseCloudEvents,
  decodeHeaderValue,
} from './cloudevents.ts';
export {
  SEGMENT_CALLS,
  type SegmentCall,
  type SegmentEndpoint,
  type SegmentOptions,
  parseSegment,
  segmentWriteKey,
} from './segment.ts';
export {
  WEBHOOK_SCHEMES,
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  WebhookValueRefSchema,
  WebhookMappingSchema,
  WebhookSourceSchema,
  type WebhookScheme,
  type WebhookValueRef,
  type WebhookMapping,
  type WebhookSourceConfig,
  type WebhookRegistry,
  type WebhookRegistryOptions,
  createWebhookRegistry,
} from './webhooks.ts';
export {
  type NdjsonLine,
  type NdjsonOptions,
  type NdjsonEvent,
  DEFAULT_MAX_NDJSON_LINE_BYTES,
  parseNdjson,
  parseNdjsonEvents,
} from './ndjson.ts';
export { type RowMapping, rowToEvent } from './file-rows.ts';
export { type ColumnCast, rowToItem } from './file-rows.ts';
export {
  type EventValidation,
  type EventValidator,
  type OriginalItem,
  type ParsedItem,
  defaultEventValidator,
  eventsOrThrow,
  jsonOriginal,
} from './items.ts';
export {
  FILE_FORMATS,
  type FileFormat,
  type FileRow,
  type FileReaderOptions,
  type AsyncBuffer,
  formatOfFileName,
  formatOfMediaType,
  readCsvRows,
  readNdjsonRows,
  readJsonRows,
  readParquetRows,
  parquetRowCount,
} from './file-readers.ts';
export { parseCloudEventsItems } from './cloudevents.ts';
export { parseSegmentItems } from './segment.ts';
export {
  fileAsyncBuffer,
  fileIdentity,
  fileSize,
  rowsOfFile,
  rowMappingFromText,
  type RowMappingText,
} from './file-source.ts';
export { readPointer, jsonPointer, parseDateTime } from './request.ts';
export { MAX_JSON_DEPTH, jsonTooDeep, parseJsonText } from './request.ts';
