import type { Hono } from 'hono';
import { z } from 'zod';
import { authenticate, ScopeSchema, type AuthEnv } from '@tideway/auth';
import { ErrorCode, TenantSchema, TidewayError, fieldIssues } from '@tideway/events';
import { parseJsonText } from '@tideway/producers';
import { readBody, type Gateway } from '../gateway.ts';

const CreateKeySchema = z
  .object({
    name: z.string().max(200).default(''),
    scopes: z.array(ScopeSchema).min(1),
    tenant: TenantSchema.optional(),
  })
  .strict();

/** Parses a small JSON request body with a zod schema (400 `invalid-body` naming each field). */
export async function jsonBody<T extends z.ZodType>(
  c: Parameters<typeof readBody>[0],
  schema: T,
  limit = 64 * 1024,
  optional = false,
): Promise<z.infer<T>> {
  const text = new TextDecoder().decode(await readBody(c, limit));
  if (text.trim() === '' && optional) return schema.parse({});
  let value: unknown;
  try {
    value = parseJsonText(text);
  } catch (cause) {
    throw new TidewayError(ErrorCode.InvalidBody, 'the body is not valid JSON', {}, { cause });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new TidewayError(ErrorCode.InvalidBody, 'the body is invalid', { issues: fieldIssues(parsed.error) });
  return parsed.data;
}

/**
 * Key management and the audit log for `admin` keys, each within its own tenant:
 * `POST /v1/keys`, `GET /v1/keys`, `DELETE /v1/keys/:id`, `GET /v1/audit`. (The `tideway keys` CLI, which talks to
 * PostgreSQL directly, manages keys of any tenant.)
 */
export function mountKeyRoutes(app: Hono<AuthEnv>, gateway: Gateway): void {
  const { config } = gateway;
  const admin = authenticate({
    mode: config.TIDEWAY_AUTH,
    keys: gateway.keys,
    defaultTenant: config.INGEST_DEFAULT_TENANT,
    scope: 'admin',
  });

  app.post('/v1/keys', admin, async (c) => {
    const body = await jsonBody(c, CreateKeySchema);
    const principal = c.var.principal;
    if (body.tenant !== undefined && body.tenant !== principal.tenant) {
      throw new TidewayError(
        ErrorCode.TenantMismatch,
        `an admin key of tenant "${principal.tenant}" manages only that tenant's keys`,
      );
    }
    const created = await gateway.keys.create({ tenant: principal.tenant, scopes: body.scopes, name: body.name });
    gateway.audit.record({
      tenant: principal.tenant,
      actor: principal.keyId,
      action: 'key.created',
      detail: { id: created.id, scopes: created.scopes },
    });
    return c.json(created, 201);
  });

  app.get('/v1/keys', admin, async (c) => c.json({ items: await gateway.keys.list(c.var.principal.tenant) }));

  app.delete('/v1/keys/:id', admin, async (c) => {
    const principal = c.var.principal;
    const revoked = await gateway.keys.revoke(c.req.param('id'), principal.tenant);
    gateway.audit.record({
      tenant: principal.tenant,
      actor: principal.keyId,
      action: 'key.revoked',
      detail: { id: revoked.id },
    });
    return c.json(revoked);
  });

  app.get('/v1/audit', admin, async (c) => {
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 100) || 100, 1), 1000);
    const before = c.req.query('before');
    const action = c.req.query('action');
    await gateway.audit.flush();
    const items = await gateway.audit.list({
      tenant: c.var.principal.tenant,
      limit,
      ...(action ? { action } : {}),
      ...(before && /^\d+$/.test(before) ? { before: Number(before) } : {}),
    });
    return c.json({ items, next_before: items.length === limit ? (items.at(-1)?.id ?? null) : null });
  });
}
