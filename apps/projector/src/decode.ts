import type { JsMsg } from '@nats-io/jetstream';
import type { EventEnvelope, StoredEvent } from '@tideway/events';

export type Decoded = { ok: true; stored: StoredEvent } | { ok: false; seq: number; subject: string; reason: string; payload: Uint8Array };

const REQUIRED = ['id', 'source', 'type', 'tenant', 'time', 'recordedtime', 'partitionkey'] as const;

/**
 * Decodes a stream message into a stored event. The gateway validated the envelope with its zod schema
 * before publishing, so the consumer edge only checks the shape it relies on; anything else is poison and
 * goes to quarantine instead of blocking the projection.
 */
export function decodeEvent(msg: JsMsg): Decoded {
  const seq = msg.seq;
  try {
    const event = msg.json<EventEnvelope>();
    const missing = REQUIRED.filter((k) => typeof (event as unknown as Record<string, unknown>)[k] !== 'string');
    if (missing.length > 0) return { ok: false, seq, subject: msg.subject, reason: `missing attributes: ${missing.join(', ')}`, payload: msg.data };
    return { ok: true, stored: { seq, subject: msg.subject, event } };
  } catch (error) {
    return { ok: false, seq, subject: msg.subject, reason: `not JSON: ${(error as Error).message}`, payload: msg.data };
  }
}
