import { deterministicId, type EventEnvelope } from '@tideway/events';
import { ALERT_ACKNOWLEDGED } from './reader.ts';

/** The source of acknowledgements made through the query API. */
export const ACKNOWLEDGEMENT_SOURCE = 'urn:tideway:query';

/**
 * The `tideway.alert.acknowledged` event that acknowledges an alert: subject = the alert id, so the generic entity
 * reducer folds it into `entity_state` (type `tideway.alert.acknowledged`, id = alert id) and a rebuild restores
 * it like any other state. Its id is derived from tenant and alert, so acknowledging twice is one event (the
 * event log de-duplicates it): the first acknowledgement's time, author and note stand.
 */
export function alertAcknowledgementEvent(tenant: string, alertId: string, ack: { by?: string; note?: string }, now: Date = new Date()): EventEnvelope {
  const time = now.toISOString();
  return {
    specversion: '1.0',
    id: deterministicId(ALERT_ACKNOWLEDGED, tenant, alertId),
    source: ACKNOWLEDGEMENT_SOURCE,
    type: ALERT_ACKNOWLEDGED,
    subject: alertId,
    time,
    tenant,
    partitionkey: alertId,
    datacontenttype: 'application/json',
    recordedtime: time,
    data: { alert_id: alertId, ...(ack.by === undefined ? {} : { by: ack.by }), ...(ack.note === undefined ? {} : { note: ack.note }) },
  };
}
