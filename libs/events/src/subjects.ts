/**
 * The subject scheme. Every event is published on
 *
 *     <root>.evt.<tenant>.<partition>.<type tokens…>
 *
 * e.g. `tw.evt.acme.7.iot.sensor.reading`. The partition number sits before the type so that a single filter
 * subject (all NATS 2.9 supports per consumer) can select any of: one partition of everything
 * (`tw.evt.*.7.>`), one type across partitions (`tw.evt.*.*.iot.sensor.reading`), one tenant (`tw.evt.acme.>`),
 * or one type in one partition (`tw.evt.*.7.iot.sensor.reading`).
 */
export interface SubjectScheme {
  /** First subject token. `tw` in production; tests use a unique root so they can share one server. */
  readonly root: string;
  /** Number of partitions the key space is hashed into. Changing it re-maps keys: treat it as fixed. */
  readonly partitions: number;
}

export const DEFAULT_SUBJECT_ROOT = 'tw';
export const DEFAULT_PARTITIONS = 16;

export const defaultSubjectScheme: SubjectScheme = { root: DEFAULT_SUBJECT_ROOT, partitions: DEFAULT_PARTITIONS };

/**
 * FNV-1a 32-bit over the UTF-8 bytes of `input`: stable across processes, languages and releases, and cheap. ASCII
 * strings (nearly every key) are hashed from their char codes, which are their UTF-8 bytes, without encoding them
 * into a buffer first; others are encoded.
 */
export function fnv1a32(input: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    if (code > 0x7f) return fnv1a32Bytes(Buffer.from(input, 'utf8'));
    hash = Math.imul(hash ^ code, 0x01000193);
  }
  return hash >>> 0;
}

function fnv1a32Bytes(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}

/** The partition of a partition key. */
export function partitionOf(partitionKey: string, partitions: number): number {
  return fnv1a32(partitionKey) % partitions;
}

/** The subject an event is published on. */
export function eventSubject(scheme: SubjectScheme, tenant: string, type: string, partitionKey: string): string {
  return `${scheme.root}.evt.${tenant}.${partitionOf(partitionKey, scheme.partitions)}.${type}`;
}

/** A filter subject for consumers; omitted parts match anything. */
export function eventFilter(
  scheme: SubjectScheme,
  filter: { tenant?: string; partition?: number; type?: string } = {},
): string {
  const tenant = filter.tenant ?? '*';
  const partition = filter.partition === undefined ? '*' : String(filter.partition);
  if (filter.type === undefined) {
    return tenant === '*' && partition === '*' ? `${scheme.root}.evt.>` : `${scheme.root}.evt.${tenant}.${partition}.>`;
  }
  return `${scheme.root}.evt.${tenant}.${partition}.${filter.type}`;
}

/** The parts of an event subject. */
export function parseEventSubject(
  scheme: SubjectScheme,
  subject: string,
): { tenant: string; partition: number; type: string } | undefined {
  const prefix = `${scheme.root}.evt.`;
  if (!subject.startsWith(prefix)) return undefined;
  const [tenant, partition, ...type] = subject.slice(prefix.length).split('.');
  if (tenant === undefined || partition === undefined || type.length === 0) return undefined;
  return { tenant, partition: Number(partition), type: type.join('.') };
}

/** The subject of the quarantine stream for a tenant and reason. */
export function quarantineSubject(scheme: SubjectScheme, tenant: string, reason: string): string {
  return `${scheme.root}.quarantine.${tenant}.${reason}`;
}

/**
 * The subject of a derived event (a pipeline's window result, anomaly or alert):
 *
 *     <root>.drv.<tenant>.<partition>.<type tokens…>
 *
 * e.g. `tw.drv.acme.7.tideway.window.result`. `partition` is the partition of the input the event was derived
 * from, so derived events stay in their key's partition and can be processed further with the same one-filter-
 * per-consumer scheme as `evt` subjects.
 */
export function derivedSubject(scheme: SubjectScheme, tenant: string, partition: number, type: string): string {
  return `${scheme.root}.drv.${tenant}.${partition}.${type}`;
}

/** A filter subject over derived events; omitted parts match anything. */
export function derivedFilter(scheme: SubjectScheme, filter: { tenant?: string; partition?: number; type?: string } = {}): string {
  const tenant = filter.tenant ?? '*';
  const partition = filter.partition === undefined ? '*' : String(filter.partition);
  if (filter.type === undefined) {
    return tenant === '*' && partition === '*' ? `${scheme.root}.drv.>` : `${scheme.root}.drv.${tenant}.${partition}.>`;
  }
  return `${scheme.root}.drv.${tenant}.${partition}.${filter.type}`;
}

/**
 * The subject of the late-events stream: an input a pipeline received after its event-time horizon, kept with
 * the reason in headers: `<root>.late.<tenant>.<partition>.<type tokens…>` (type of the late input).
 */
export function lateSubject(scheme: SubjectScheme, tenant: string, partition: number, type: string): string {
  return `${scheme.root}.late.${tenant}.${partition}.${type}`;
}
