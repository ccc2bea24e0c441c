import type { Hono } from 'hono';
import { authenticate, type AuthEnv } from '@tideway/auth';
import { ErrorCode, TidewayError } from '@tideway/events';
import type { JsonSchema } from '@tideway/schemas';
import { parseJsonText } from '@tideway/producers';
import { readBody, type Gateway } from '../gateway.ts';

/**
 * The schema registry over HTTP (any valid key):
 * `GET /v1/schemas` (every type, every version, as JSON Schema), `GET /v1/schemas/:type`,
 * `GET /v1/schemas/:type/:version` (the JSON Schema document itself) and
 * `POST /v1/schemas/:type/compatibility` (is this JSON Schema a backward-compatible next version?).
 */
export function mountSchemaRoutes(app: Hono<AuthEnv>, gateway: Gateway): void {
  const { config, registry } = gateway;
  const auth = authenticate({
    mode: config.TIDEWAY_AUTH,
    keys: gateway.keys,
    defaultTenant: config.INGEST_DEFAULT_TENANT,
  });
  app.get('/v1/schemas', auth, (c) => c.json({ types: registry.describe() }));
  app.get('/v1/schemas/:type', auth, (c) => {
    const described = registry.describeType(c.req.param('type'));
    if (described === undefined)
      throw new TidewayError(ErrorCode.NotFound, `no schema is registered for type ${c.req.param('type')}`);
    return c.json(described);
  });
  app.get('/v1/schemas/:type/:version', auth, (c) => {
    const version = Number(c.req.param('version').replace(/^v/, ''));
    const entry = Number.isInteger(version) ? registry.get(c.req.param('type'), version) : undefined;
    if (entry === undefined)
      throw new TidewayError(ErrorCode.NotFound, `no schema ${c.req.param('type')} version ${c.req.param('version')}`);
    return c.body(JSON.stringify(entry.jsonSchema), 200, { 'content-type': 'application/schema+json' });
  });
  app.post('/v1/schemas/:type/compatibility', auth, async (c) => {
    const text = new TextDecoder().decode(await readBody(c, config.INGEST_MAX_BODY_BYTES));
    let candidate: unknown;
    try {
      candidate = parseJsonText(text);
    } catch (cause) {
      throw new TidewayError(ErrorCode.InvalidBody, 'the body must be a JSON Schema document', {}, { cause });
    }
    if (
      typeof candidate !== 'boolean' &&
      (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate))
    ) {
      throw new TidewayError(ErrorCode.InvalidBody, 'the body must be a JSON Schema object');
    }
    return c.json({
      type: c.req.param('type'),
      ...registry.checkCandidate(c.req.param('type'), candidate as JsonSchema),
    });
  });
}
