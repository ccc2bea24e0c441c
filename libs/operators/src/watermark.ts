import { requireOption, requireSnapshot } from './errors.ts';
import { fromJsonNumber, jsonNumber } from './state.ts';
import type { Json } from './types.ts';

interface PartitionClock {
  /** Largest event time seen on this partition. */
  maxEventTime: number;
  /** Processing time of the partition's last event. */
  lastArrival: number;
  idle: boolean;
}

/**
 * Bounded-out-of-orderness watermarks over one or more partitions (the clock of the window operator, kept apart
 * from RxJS so its rules can be read and tested on their own).
 *
 * - A partition's watermark is its largest event time minus `boundMs`: events older than that are late.
 * - The overall watermark is the minimum over active partitions and never goes back.
 * - A partition without events for `idleTimeoutMs` of processing time turns idle and stops holding the
 *   watermark back. When every partition is idle, the watermark advances with processing time from where the
 *   stream stopped: `maxEventTime − bound + (now − lastArrival)`, so the last windows of a quiet stream close.
 *
 * A watermark W means: events with time < W are not expected any more.
 */
export class WatermarkTracker {
  private readonly partitions = new Map<string, PartitionClock>();
  private maxEventTime = -Infinity;
  private lastArrival = -Infinity;
  private current = -Infinity;

  constructor(
    private readonly boundMs: number,
    private readonly idleTimeoutMs: number | undefined,
  ) {
    requireOption(Number.isFinite(boundMs) && boundMs >= 0, `maxOutOfOrdernessMs must be a finite number ≥ 0, got ${boundMs}`);
    requireOption(idleTimeoutMs === undefined || (Number.isFinite(idleTimeoutMs) && idleTimeoutMs > 0), `idleTimeoutMs must be > 0, got ${idleTimeoutMs}`);
  }

  /** The current watermark (−Infinity before the first event). */
  get watermark(): number {
    return this.current;
  }

  /** True when events were seen and every partition has gone idle. */
  get allIdle(): boolean {
    if (this.partitions.size === 0) return false;
    for (const p of this.partitions.values()) if (!p.idle) return false;
    return true;
  }

  /** Records an event of `partition` with event time `eventTime`, arriving at processing time `now`. */
  observe(partition: string, eventTime: number, now: number): void {
    let p = this.partitions.get(partition);
    if (!p) {
      p = { maxEventTime: eventTime, lastArrival: now, idle: false };
      this.partitions.set(partition, p);
    }
    p.maxEventTime = Math.max(p.maxEventTime, eventTime);
    p.lastArrival = now;
    p.idle = false;
    this.maxEventTime = Math.max(this.maxEventTime, eventTime);
    this.lastArrival = now;
  }

  /** Marks the partitions silent for at least the idle timeout as idle. */
  markIdle(now: number): void {
    if (this.idleTimeoutMs === undefined) return;
    for (const p of this.partitions.values()) if (!p.idle && now - p.lastArrival >= this.idleTimeoutMs) p.idle = true;
  }

  /** Recomputes the watermark at processing time `now`; returns it. */
  advance(now: number): number {
    this.current = Math.max(this.current, this.candidate(now));
    return this.current;
  }

  /** Processing time at which the next active partition may turn idle (undefined when none is active). */
  nextIdleCheck(): number | undefined {
    if (this.idleTimeoutMs === undefined) return undefined;
    let due: number | undefined;
    for (const p of this.partitions.values()) {
      if (p.idle) continue;
      const t = p.lastArrival + this.idleTimeoutMs;
      if (due === undefined || t < due) due = t;
    }
    return due;
  }

  /** While all partitions are idle: the processing time at which the watermark reaches `target`. */
  idleTimeToReach(target: number, now: number): number | undefined {
    if (!this.allIdle) return undefined;
    return now + Math.max(0, target - this.candidate(now));
  }

  /** The tracker's state as JSON (infinities as null); {@link WatermarkTracker.restore} continues from it. */
  snapshot(): Json {
    return {
      partitions: [...this.partitions].map(([name, p]) => [name, jsonNumber(p.maxEventTime), jsonNumber(p.lastArrival), p.idle]),
      maxEventTime: jsonNumber(this.maxEventTime),
      lastArrival: jsonNumber(this.lastArrival),
      current: jsonNumber(this.current),
    };
  }

  /** Replaces this tracker's state with a {@link WatermarkTracker.snapshot}. */
  restore(json: Json): void {
    requireSnapshot(typeof json === 'object' && json !== null && !Array.isArray(json), 'watermark snapshot must be an object');
    const o = json as { readonly [k: string]: Json };
    const list = o['partitions'];
    requireSnapshot(Array.isArray(list), 'watermark snapshot lacks partitions');
    this.partitions.clear();
    for (const entry of list as readonly Json[]) {
      requireSnapshot(Array.isArray(entry) && entry.length === 4 && typeof entry[0] === 'string' && typeof entry[3] === 'boolean', 'bad watermark partition entry');
      const [name, maxEventTime, lastArrival, idle] = entry as unknown as readonly [string, Json, Json, boolean];
      this.partitions.set(name, { maxEventTime: fromJsonNumber(maxEventTime, -Infinity), lastArrival: fromJsonNumber(lastArrival, -Infinity), idle });
    }
    this.maxEventTime = fromJsonNumber(o['maxEventTime'], -Infinity);
    this.lastArrival = fromJsonNumber(o['lastArrival'], -Infinity);
    this.current = fromJsonNumber(o['current'], -Infinity);
  }

  private candidate(now: number): number {
    let min = Infinity;
    let active = false;
    for (const p of this.partitions.values()) {
      if (p.idle) continue;
      active = true;
      if (p.maxEventTime < min) min = p.maxEventTime;
    }
    if (active) return min - this.boundMs;
    if (this.partitions.size === 0) return -Infinity;
    return this.maxEventTime - this.boundMs + (now - this.lastArrival);
  }
}
