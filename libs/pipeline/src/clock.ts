import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * The "processing time" a pipeline's operators see: the time the event being processed was recorded (the envelope's
 * `recordedtime`, stamped by the gateway; else the time JetStream stored it), never moving back. It is part of the
 * log, so a replay, a restart or another replica sees exactly the same clock, and every operator that reads
 * `scheduler.now()` (future-time checks, processing-time cooldowns, TTLs) stays deterministic.
 *
 * Pipelines never schedule work on it (no processing-time timers); `schedule` falls back to the async scheduler
 * only to satisfy the interface.
 */
export class LogClock implements SchedulerLike {
  private current = 0;

  /** The log time of the message being processed (ms since the epoch). */
  now(): number {
    return this.current;
  }

  /** Moves the clock to a message's log time; it never goes back, so gateway clock skew cannot make it jump back. */
  set(ms: number): void {
    if (ms > this.current) this.current = ms;
  }

  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription {
    return asyncScheduler.schedule(work, delay, state);
  }
}
