import { requireOption } from './errors.ts';

/**
 * Escapes a variable key segment so that a `:` inside an entity id, pipeline or window key cannot make two
 * different keys collide. Segments of the safe alphabet (most ids) stay readable.
 */
export function keySegment(value: string): string {
  return value.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

/** Reverses {@link keySegment}. */
export function unescapeKeySegment(segment: string): string {
  return segment.replace(/%3A|%25/g, (c) => (c === '%25' ? '%' : ':'));
}

/**
 * The key layout of one hot store, all under one prefix (`tw:hot:` live; a shadow rebuild writes under another
 * prefix and swaps):
 *
 *     <prefix>_cp:<projection>                     string  checkpoint: last applied stream sequence
 *     <prefix>_lock:<projection>                   string  single-writer lock (token, with a lease)
 *     <prefix><tenant>:ent:<type>:<id>             string  entity state (JSON)
 *     <prefix><tenant>:win:<pipeline>:<stage>:<key>  zset  window results of one key, scored by window start
 *     <prefix><tenant>:winkeys:<pipeline>            zset  `<stage>:<key>` of a pipeline, scored by newest window start
 *     <prefix><tenant>:anomalies                   zset    recent anomalies, scored by event time (ms)
 *     <prefix><tenant>:alerts                      zset    recent alerts, scored by event time (ms)
 *
 * Tenants start with `[a-z0-9]`, so the `_` of store keys never collides with a tenant. Variable segments
 * after the tenant are escaped with {@link keySegment}.
 */
export class HotKeys {
  constructor(readonly prefix: string) {
    requireOption(
      prefix.length > 0,
      'the hot store key prefix must not be empty (it namespaces every key, and rebuilds swap it)',
    );
    requireOption(!/[*?[\]\\]/.test(prefix), `the hot store key prefix must not contain glob characters: ${prefix}`);
  }

  /** The checkpoint of a projection. */
  checkpoint(projection: string): string {
    return `${this.prefix}_cp:${projection}`;
  }

  /** The single-writer lock of a projection. */
  lock(projection: string): string {
    return `${this.prefix}_lock:${projection}`;
  }

  /** The state of one entity. */
  entity(tenant: string, entityType: string, entityId: string): string {
    return `${this.prefix}${tenant}:ent:${keySegment(entityType)}:${keySegment(entityId)}`;
  }

  /** The window results of one key of a pipeline's window stage. */
  windows(tenant: string, pipeline: string, stage: string, key: string): string {
    return `${this.prefix}${tenant}:win:${keySegment(pipeline)}:${keySegment(stage)}:${keySegment(key)}`;
  }

  /** The index of a pipeline's (stage, key) pairs that have window results; members are {@link windowIndexMember}. */
  windowKeys(tenant: string, pipeline: string): string {
    return `${this.prefix}${tenant}:winkeys:${keySegment(pipeline)}`;
  }

  /** The recent anomalies of a tenant. */
  anomalies(tenant: string): string {
    return `${this.prefix}${tenant}:anomalies`;
  }

  /** The recent alerts of a tenant. */
  alerts(tenant: string): string {
    return `${this.prefix}${tenant}:alerts`;
  }

  /** A SCAN pattern matching every key of this store. */
  pattern(): string {
    return `${this.prefix}*`;
  }
}

/** A member of the window index: `<stage>:<key>`, both escaped. */
export function windowIndexMember(stage: string, key: string): string {
  return `${keySegment(stage)}:${keySegment(key)}`;
}

/** Reverses {@link windowIndexMember}. */
export function parseWindowIndexMember(member: string): { stage: string; key: string } {
  const at = member.indexOf(':');
  return { stage: unescapeKeySegment(member.slice(0, at)), key: unescapeKeySegment(member.slice(at + 1)) };
}
