export {
  AnalyticsReader,
  ALERT_ACKNOWLEDGED,
  type WindowResultRow,
  type WindowResultQuery,
  type AnomalyRow,
  type AlertRow,
  type SignalQuery,
  type AlertQuery,
  type Page,
} from './reader.ts';
export { alertAcknowledgementEvent, ACKNOWLEDGEMENT_SOURCE } from './acknowledgement.ts';
