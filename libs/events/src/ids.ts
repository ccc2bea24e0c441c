import { createHash, hash } from 'node:crypto';
import { monotonicFactory } from 'ulidx';

const nextUlid = monotonicFactory();

/** A new ULID: 128 bits, lexicographically sortable by creation time, monotonic within one process. */
export function newEventId(now: number = Date.now()): string {
  return nextUlid(now);
}

/**
 * The JetStream de-duplication id (`Nats-Msg-Id`) of an event: a digest of tenant, source and id, so that a
 * producer retry of the same event is recognised whatever bytes the ids contain, and header values stay short.
 * `base64url(sha256(tenant \0 source \0 id))` — a stable format: ids of events already in the de-duplication
 * window must come out the same after a deploy. Computed with the one-shot `crypto.hash` (the same digest as
 * `createHash().update()…digest()`, without a Hash object per event: it halves the cost on the ingest hot path).
 */
export function dedupeId(tenant: string, source: string, id: string): string {
  return hash('sha256', `${tenant}\0${source}\0${id}`, 'base64url');
}

/**
 * A deterministic id for a derived record (a row of a file, an output of a pipeline): the same inputs always
 * produce the same id, so re-running a load or re-emitting after a crash is de-duplicated.
 */
export function deterministicId(...parts: readonly (string | number)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(String(part)).update('\0');
  return hash.digest('base64url').slice(0, 32);
}
