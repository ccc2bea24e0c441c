/**
 * Out-of-band operator state for checkpointing. A runtime that must persist a pipeline's state together with its
 * input position hands each stateful operator a {@link StateSlot}; the operator starts from the slot's `initial`
 * snapshot and binds a function that returns its current state. Between two input elements (operators here are
 * synchronous) the runtime asks the {@link StateRegistry} for a consistent snapshot of every operator at once.
 *
 * This is pure bookkeeping: no I/O, no clocks. Where the state is stored is the runtime's business.
 */
import { requireOption } from './errors.ts';
import type { Json } from './types.ts';

/** Where one stateful operator keeps its checkpointable state. */
export interface StateSlot {
  /** The slot's name in its registry (e.g. `windows:stats-1m`). */
  readonly name: string;
  /** The snapshot to start from (one this operator wrote earlier), or `undefined` for a fresh start. */
  readonly initial: Json | undefined;
  /**
   * Called by the operator when it is subscribed, with a function returning its current state as JSON. Returns
   * the function to call on unsubscribe.
   */
  bind(snapshot: () => Json): () => void;
}

/**
 * A set of named {@link StateSlot}s: one per stateful operator of a pipeline instance.
 *
 * @example
 * const registry = new StateRegistry(saved ?? {});
 * const out$ = in$.pipe(windowAggregate({ ...options, state: registry.slot('windows') }));
 * // …after feeding some elements synchronously:
 * const checkpoint = registry.snapshot(); // { windows: {...} } — persist it with the input position
 */
export class StateRegistry {
  private readonly slots = new Map<string, { initial: Json | undefined; current: (() => Json) | undefined }>();

  constructor(private readonly initial: Readonly<Record<string, Json>> = {}) {}

  /** Creates the slot `name`. Names are unique within a registry. */
  slot(name: string): StateSlot {
    requireOption(name.length > 0, 'state slot names must not be empty');
    requireOption(!this.slots.has(name), `state slot ${name} exists already`);
    const entry: { initial: Json | undefined; current: (() => Json) | undefined } = { initial: this.initial[name], current: undefined };
    this.slots.set(name, entry);
    return {
      name,
      initial: entry.initial,
      bind: (snapshot) => {
        entry.current = snapshot;
        return () => {
          if (entry.current === snapshot) entry.current = undefined;
        };
      },
    };
  }

  /** The names of the slots created so far. */
  get names(): readonly string[] {
    return [...this.slots.keys()];
  }

  /**
   * The current state of every slot, by name: what its bound operator reports, or its initial snapshot when no
   * operator is bound (yet). Slots that have neither are left out.
   */
  snapshot(): Record<string, Json> {
    const out: Record<string, Json> = {};
    for (const [name, entry] of this.slots) {
      const value = entry.current ? entry.current() : entry.initial;
      if (value !== undefined) out[name] = value;
    }
    return out;
  }
}

/** @internal JSON-safe number: ±Infinity and NaN become null. */
export function jsonNumber(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** @internal Reads a number written by {@link jsonNumber}; null means `fallback` (an infinity). */
export function fromJsonNumber(x: Json | undefined, fallback: number): number {
  return typeof x === 'number' ? x : fallback;
}
