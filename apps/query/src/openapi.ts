import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { ErrorCode, TenantSchema, TidewayError, fieldIssues } from '@tideway/events';

/** RFC 9457 problem details, as every error of the API is answered. */
export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://tideway.dev/problems/invalid-query' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: z.string(),
    issues: z.array(z.object({ pointer: z.string(), message: z.string(), index: z.number().int().optional() })).optional(),
  })
  .passthrough()
  .openapi('Problem');

/** A problem+json response of the given meaning. */
export const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ProblemSchema } } });

/** The error answers every route may give. */
export const problemResponses = {
  400: problem('Invalid request: a bad or unknown parameter'),
  401: problem('No API key, or an unknown or revoked one'),
  403: problem('The key lacks the `query` scope, or names another tenant'),
  503: problem('A store is unavailable, or `min_seq` was not reached in time (the body says how far the projection is)'),
} as const;

/** Response headers every data response carries. */
export const seqHeaders = z.object({
  'Tideway-Seq': z.string().openapi({
    description: 'The stream sequence the data reflects: every event up to it is applied in the projection that answered',
    example: '1042',
  }),
});

export const rfc3339 = z.iso.datetime({ offset: true });

/** Parameters every data query takes. */
export const commonQuery = {
  tenant: TenantSchema.optional().openapi({
    description: 'Tenant to read. With an API key it must be the key’s tenant (and defaults to it); without one, the service default.',
  }),
  min_seq: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .openapi({
      description:
        'Read-your-writes: answer only once the projections this endpoint reads have applied at least this stream sequence (from the ingest response). Waits up to a bound, then 503.',
      type: 'integer',
    }),
};

export const limitParam = (max: number, fallback = 100) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(max)
    .default(Math.min(fallback, max))
    .openapi({ description: `Page size (1-${max})`, type: 'integer' });

/** Dates bounded by the configured widest range. */
export function checkRange(from: string | undefined, to: string | undefined, maxDays: number): void {
  if (from !== undefined && to !== undefined) {
    const span = Date.parse(to) - Date.parse(from);
    if (span < 0) throw new TidewayError(ErrorCode.InvalidQuery, '`to` is before `from`', { issues: [{ pointer: '/to', message: 'must not be before from' }] });
    if (span > maxDays * 86_400_000) {
      throw new TidewayError(ErrorCode.InvalidQuery, `the range is wider than ${maxDays} days`, { issues: [{ pointer: '/to', message: `at most ${maxDays} days after from` }] });
    }
  }
}

/** An OpenAPIHono whose validation failures become `invalid-query` problems. */
export function createApi<E extends Env = Env>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new TidewayError(ErrorCode.InvalidQuery, 'the request parameters are invalid', { issues: fieldIssues(result.error) });
      }
    },
  });
}
