import { z } from 'zod';

/**
 * Tenants appear as one NATS subject token and as a Redis/S3 path segment, so they are restricted to a safe,
 * lowercase alphabet.
 */
export const TenantSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'tenant must be 1-63 chars of [a-z0-9_-], starting with a letter or digit');

/**
 * Event types are dotted, reverse-DNS style names (`iot.sensor.reading`). Each dot-separated part becomes one
 * NATS subject token, so the parts exclude the subject wildcards and separators.
 */
export const EventTypeSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}$/,
    'type must be dot-separated parts of [A-Za-z0-9_-] (at most 16 parts), e.g. "iot.sensor.reading"',
  );

/** W3C Trace Context `traceparent` header value (version 00). */
export const TraceparentSchema = z
  .string()
  .regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'traceparent must be a W3C trace-context version 00 value');

const RFC3339 = z.iso.datetime({ offset: true, precision: undefined });

/**
 * The attributes a producer may send. CloudEvents 1.0 core attributes plus Tideway's extension attributes.
 * `id` and `time` are optional on input: the gateway assigns a ULID and the receive time.
 */
export const EventInputSchema = z
  .object({
    specversion: z.literal('1.0', { error: 'specversion must be "1.0"' }),
    id: z.string().min(1).max(256).optional().describe('Producer-chosen id; unique per source. Server assigns a ULID when omitted.'),
    source: z.string().min(1).max(512).describe('URI-reference identifying the producer context'),
    type: EventTypeSchema,
    subject: z.string().min(1).max(512).optional(),
    time: RFC3339.optional().describe('Event time (RFC 3339). Server assigns the receive time when omitted.'),
    datacontenttype: z.string().min(1).max(128).optional(),
    dataschema: z.string().min(1).max(512).optional(),
    data: z.unknown().optional(),
    /** Extension: tenant. Set by the gateway from the caller's credentials; a producer value must match. */
    tenant: TenantSchema.optional(),
    /** Extension: the partition key; defaults to `subject`, then `source`. */
    partitionkey: z.string().min(1).max(256).optional(),
    /** Extensions: W3C trace context. */
    traceparent: TraceparentSchema.optional(),
    tracestate: z.string().max(512).optional(),
    /** Extensions: lineage. `causationid` is the id of the event that caused this one; `correlationid` groups a flow. */
    causationid: z.string().min(1).max(256).optional(),
    correlationid: z.string().min(1).max(256).optional(),
  })
  .strict();

export type EventInput = z.infer<typeof EventInputSchema>;

/**
 * The stored envelope: what is on JetStream and in every projection. All attributes the gateway fills in are
 * required here.
 */
export const EventEnvelopeSchema = EventInputSchema.extend({
  id: z.string().min(1).max(256),
  time: RFC3339,
  tenant: TenantSchema,
  partitionkey: z.string().min(1).max(256),
  datacontenttype: z.string().min(1).max(128),
  /** Extension: when the gateway received the event (RFC 3339, UTC). */
  recordedtime: RFC3339,
}).strict();

export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;

/** An envelope as read back from the stream, with the position JetStream gave it. */
export interface StoredEvent {
  readonly seq: number;
  readonly subject: string;
  readonly event: EventEnvelope;
}
