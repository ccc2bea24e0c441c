import type { NatsConnection } from '@nats-io/transport-node';
import { derivedSubject, eventSubject, partitionOf, type EventEnvelope, type SubjectScheme } from '@tideway/events';
import { JetStreamPublisher } from '@tideway/nats';

/**
 * Publishes envelopes in order, 1000 in flight at a time, to the EVENTS stream of `scheme` (or, with `derived`,
 * to the DERIVED stream's subjects); returns their sequences.
 */
export async function publishEnvelopes(
  nc: NatsConnection,
  scheme: SubjectScheme,
  events: readonly EventEnvelope[],
  options: { derived?: boolean } = {},
): Promise<number[]> {
  const subject = (e: EventEnvelope): string =>
    options.derived
      ? derivedSubject(scheme, e.tenant, partitionOf(e.partitionkey, scheme.partitions), e.type)
      : eventSubject(scheme, e.tenant, e.type, e.partitionkey);
  const publisher = new JetStreamPublisher(nc, { maxInFlight: 1000 });
  const seqs: number[] = [];
  for (let i = 0; i < events.length; i += 1000) {
    const acks = await Promise.all(
      events.slice(i, i + 1000).map((event) =>
        publisher.publish({
          subject: subject(event),
          payload: new TextEncoder().encode(JSON.stringify(event)),
          msgId: event.id,
        }),
      ),
    );
    seqs.push(...acks.map((a) => a.seq));
  }
  return seqs;
}
