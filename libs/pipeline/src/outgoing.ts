import { dedupeId, deterministicId, derivedSubject, lateSubject, quarantineSubject, type SubjectScheme } from '@tideway/events';
import type { OutgoingMessage } from '@tideway/nats';
import type { EngineOutput } from './engine.ts';

const encoder = new TextEncoder();

function header(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').slice(0, 1024);
}

/**
 * The JetStream message for an engine output:
 * - derived events on `<root>.drv.<tenant>.<partition>.<type>`, `Nats-Msg-Id` from (tenant, source, id) as ingest
 *   does, so a re-emission after a crash is recognised as a duplicate;
 * - invalid inputs on `<root>.quarantine.<tenant>.pipeline-<name>` and late inputs on
 *   `<root>.late.<tenant>.<partition>.<type>`, with the original bytes and the reason in `Tideway-*` headers.
 */
export function toOutgoing(output: EngineOutput, scheme: SubjectScheme, pipeline: string, stream: string): OutgoingMessage {
  if (output.kind === 'derived') {
    const e = output.event;
    return {
      subject: derivedSubject(scheme, e.tenant, output.partition, output.type),
      payload: encoder.encode(JSON.stringify(e)),
      msgId: dedupeId(e.tenant, e.source, e.id),
      headers: { 'Tideway-Pipeline': pipeline },
    };
  }
  const headers: Record<string, string> = {
    'Tideway-Reason': output.reason,
    'Tideway-Pipeline': pipeline,
    'Tideway-Stage': output.stage,
    'Tideway-Origin-Stream': stream,
    'Tideway-Origin-Seq': String(output.seq),
    'Tideway-Origin-Subject': output.subject,
  };
  if (output.detail !== undefined) headers['Tideway-Reason-Detail'] = header(output.detail);
  if (output.watermark !== undefined && Number.isFinite(output.watermark)) headers['Tideway-Watermark'] = new Date(output.watermark).toISOString();
  return {
    subject: output.kind === 'late' ? lateSubject(scheme, output.tenant, output.partition, output.type) : quarantineSubject(scheme, output.tenant, `pipeline-${pipeline}`),
    payload: output.data,
    msgId: deterministicId('pipeline', pipeline, output.kind, output.stage, stream, output.seq),
    headers,
  };
}
