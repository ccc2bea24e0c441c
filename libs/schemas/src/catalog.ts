import { z } from 'zod';
import { OrderPlacedSchema, SensorReadingSchema } from '@tideway/events';
import { SchemaRegistry } from './registry.ts';

/**
 * `iot.sensor.reading` v2: v1 plus an optional reading quality and battery level. Backward compatible: every v1
 * payload is a valid v2 payload.
 */
export const SensorReadingV2Schema = SensorReadingSchema.extend({
  quality: z.enum(['good', 'uncertain', 'bad']).optional(),
  battery_pct: z.number().min(0).max(100).optional(),
});

/**
 * The registry of the event types Tideway ships with. Version 1 of each type is the schema in `@tideway/events`;
 * later versions are appended here, and the registry refuses one that breaks earlier payloads (at start-up, and in
 * this package's tests).
 */
export function builtInSchemaRegistry(): SchemaRegistry {
  return new SchemaRegistry()
    .register('iot.sensor.reading', SensorReadingSchema, { description: 'One reading of one device' })
    .register('iot.sensor.reading', SensorReadingV2Schema, { description: 'Adds optional quality and battery_pct' })
    .register('commerce.order.placed', OrderPlacedSchema, { description: 'A customer order' });
}
