import { z } from 'zod';
import { derivedDataSchemas } from './derived.ts';

/**
 * Payload schemas of the event types Tideway ships with. One zod schema per type is the single source of
 * truth: the gateway validates with it, consumers parse with it, and the API documents it.
 */

/** `iot.sensor.reading`: one reading of one device. */
export const SensorReadingSchema = z
  .object({
    device_id: z.string().min(1).max(128),
    reading_value: z.number().finite(),
    unit: z.string().max(32).optional(),
  })
  .passthrough();
export type SensorReading = z.infer<typeof SensorReadingSchema>;

/** `commerce.order.placed`: a customer order. */
export const OrderPlacedSchema = z
  .object({
    order_id: z.string().min(1).max(128),
    customer_id: z.string().min(1).max(128),
    amount: z.number().finite().nonnegative(),
    currency: z.string().length(3).optional(),
    order_date: z.iso.date().or(z.iso.datetime({ offset: true })),
  })
  .passthrough();
export type OrderPlaced = z.infer<typeof OrderPlacedSchema>;

/** Registered payload schemas by event type. Types not listed here are accepted with any JSON payload. */
export const eventDataSchemas: Readonly<Record<string, z.ZodType>> = {
  'iot.sensor.reading': SensorReadingSchema,
  'commerce.order.placed': OrderPlacedSchema,
  ...derivedDataSchemas,
};
