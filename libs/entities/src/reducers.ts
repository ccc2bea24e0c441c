import { OrderPlacedSchema, SensorReadingSchema, type EventEnvelope } from '@tideway/events';

/** JSON-serialisable entity state. */
export type EntityState = { readonly [key: string]: unknown };

/** Identifies an entity: its type (e.g. `device`) and id within the tenant. */
export interface EntityRef {
  readonly entityType: string;
  readonly entityId: string;
}

/**
 * How one event type folds into entity state. Reducers are pure and deterministic — the same events in the
 * same order always give the same state — so every store that uses them (hot Redis, warm PostgreSQL) and every
 * rebuild agrees.
 */
export interface EntityReducer {
  readonly eventType: string;
  /** The entity an event is about, or undefined when it is about none. */
  entityOf(event: EventEnvelope): EntityRef | undefined;
  reduce(state: EntityState | undefined, event: EventEnvelope, seq: number): EntityState;
}

const round = (x: number): number => Math.round(x * 1e9) / 1e9;

/** `iot.sensor.reading` → `device/<device_id>`: last value, count, sum, min, max, mean and an EWMA (α 0.1). */
export const sensorReadingReducer: EntityReducer = {
  eventType: 'iot.sensor.reading',
  entityOf: (event) => {
    const data = SensorReadingSchema.safeParse(event.data);
    return data.success ? { entityType: 'device', entityId: data.data.device_id } : undefined;
  },
  reduce: (state, event, seq) => {
    const value = SensorReadingSchema.parse(event.data).reading_value;
    const s = state as { count?: number; sum?: number; min?: number; max?: number; ewma?: number } | undefined;
    const count = (s?.count ?? 0) + 1;
    const sum = round((s?.sum ?? 0) + value);
    return {
      last_value: value,
      last_time: event.time,
      last_seq: seq,
      count,
      sum,
      min: Math.min(s?.min ?? value, value),
      max: Math.max(s?.max ?? value, value),
      mean: round(sum / count),
      ewma: round(s?.ewma === undefined ? value : 0.9 * s.ewma + 0.1 * value),
    };
  },
};

/** `commerce.order.placed` → `customer/<customer_id>`: order count, total and last order. */
export const orderPlacedReducer: EntityReducer = {
  eventType: 'commerce.order.placed',
  entityOf: (event) => {
    const data = OrderPlacedSchema.safeParse(event.data);
    return data.success ? { entityType: 'customer', entityId: data.data.customer_id } : undefined;
  },
  reduce: (state, event, seq) => {
    const order = OrderPlacedSchema.parse(event.data);
    const s = state as { orders?: number; total_amount?: number } | undefined;
    return {
      orders: (s?.orders ?? 0) + 1,
      total_amount: round((s?.total_amount ?? 0) + order.amount),
      last_order_id: order.order_id,
      last_order_at: event.time,
      last_seq: seq,
    };
  },
};

/**
 * Any other type with a `subject` → entity `<type>/<subject>`: the last payload and a count. Events without a
 * subject describe no entity.
 */
export function genericReducer(eventType: string): EntityReducer {
  return {
    eventType,
    entityOf: (event) => (event.subject ? { entityType: event.type, entityId: event.subject } : undefined),
    reduce: (state, event, seq) => ({
      count: ((state as { count?: number } | undefined)?.count ?? 0) + 1,
      last: event.data ?? null,
      last_time: event.time,
      last_seq: seq,
    }),
  };
}

/** The reducers by event type, with the generic reducer for types not listed. */
export class EntityReducers {
  private readonly byType = new Map<string, EntityReducer>();

  constructor(reducers: readonly EntityReducer[] = [sensorReadingReducer, orderPlacedReducer]) {
    for (const r of reducers) this.byType.set(r.eventType, r);
  }

  for(eventType: string): EntityReducer {
    let reducer = this.byType.get(eventType);
    if (!reducer) {
      reducer = genericReducer(eventType);
      this.byType.set(eventType, reducer);
    }
    return reducer;
  }
}

/** The key of an entity within a tenant, as every store spells it. */
export function entityKey(tenant: string, ref: EntityRef): string {
  return `${tenant}/${ref.entityType}/${ref.entityId}`;
}
