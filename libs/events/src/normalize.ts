import type { z } from 'zod';
import { EventInputSchema, type EventEnvelope } from './envelope.ts';
import { ErrorCode, TidewayError, type FieldIssue } from './errors.ts';
import { newEventId } from './ids.ts';
import { eventDataSchemas } from './types.ts';

export const DEFAULT_CONTENT_TYPE = 'application/json';

function toPointer(path: readonly PropertyKey[]): string {
  return '/' + path.map((p) => String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
}

/** Flattens zod issues into JSON-pointer field issues, prefixed with the item index. */
export function fieldIssues(error: z.ZodError, index?: number, prefix: readonly PropertyKey[] = []): FieldIssue[] {
  return error.issues.map((issue) => ({
    ...(index === undefined ? {} : { index }),
    pointer: toPointer([...(index === undefined ? [] : [index]), ...prefix, ...issue.path]),
    message: issue.message,
  }));
}

/** Validates one input item: the envelope, then the payload against the type's registered schema. */
export function validateEventInput(item: unknown, index?: number): { ok: true; value: z.infer<typeof EventInputSchema> } | { ok: false; issues: FieldIssue[] } {
  const parsed = EventInputSchema.safeParse(item);
  if (!parsed.success) return { ok: false, issues: fieldIssues(parsed.error, index) };
  const dataSchema = eventDataSchemas[parsed.data.type];
  if (dataSchema) {
    const data = dataSchema.safeParse(parsed.data.data);
    if (!data.success) return { ok: false, issues: fieldIssues(data.error, index, ['data']) };
  }
  return { ok: true, value: parsed.data };
}

/**
 * Turns a validated input into the stored envelope: assigns a ULID `id` and the receive `time` where the
 * producer omitted them, stamps the tenant and `recordedtime`, and defaults the partition key and content type.
 */
export function toEnvelope(input: z.infer<typeof EventInputSchema>, tenant: string, receivedAt: Date): EventEnvelope {
  if (input.tenant !== undefined && input.tenant !== tenant) {
    throw new TidewayError(ErrorCode.TenantMismatch, `event tenant "${input.tenant}" does not match the caller's tenant`);
  }
  const recordedtime = receivedAt.toISOString();
  const id = input.id ?? newEventId(receivedAt.getTime());
  return {
    ...input,
    id,
    time: input.time ?? recordedtime,
    tenant,
    partitionkey: input.partitionkey ?? input.subject ?? input.source,
    datacontenttype: input.datacontenttype ?? DEFAULT_CONTENT_TYPE,
    recordedtime,
  };
}
