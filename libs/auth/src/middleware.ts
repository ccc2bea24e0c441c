import type { Context, MiddlewareHandler } from 'hono';
import { ErrorCode, TidewayError } from '@tideway/events';
import { problemResponse } from '@tideway/service';
import type { ApiKeyStore } from './keys.ts';
import { hasScope, type Principal, type Scope } from './scopes.ts';

/** Hono environment of routes behind {@link authenticate}: `c.var.principal` is the caller. */
export interface AuthEnv {
  Variables: { principal: Principal };
}

/** `required` (the default everywhere): every API request needs a key. `off`: local demos only. */
export type AuthMode = 'required' | 'off';

/** Options of {@link authenticate}. */
export interface AuthenticateOptions {
  readonly mode: AuthMode;
  /** Where keys are verified; needed when `mode` is `required`. */
  readonly keys?: ApiKeyStore;
  /** The tenant of anonymous callers when `mode` is `off`. */
  readonly defaultTenant: string;
  /** The scope every route behind this middleware needs (403 `forbidden` without it). */
  readonly scope?: Scope;
  /**
   * Also take the key from `Authorization: Basic` (the user name, else the password), as Segment libraries send
   * their write key.
   */
  readonly acceptBasic?: boolean;
  /**
   * Pins a tenant query parameter to the key's tenant, for routes that read the tenant from the query string: a
   * request naming another tenant gets 403 `tenant-mismatch`, and one naming none gets the key's tenant filled in.
   */
  readonly tenantQueryParam?: string;
}

/** The API key of a request: a Bearer token, or (with `acceptBasic`) the Basic user name or password. */
export function requestKey(authorization: string | undefined, acceptBasic = false): string | undefined {
  if (authorization === undefined) return undefined;
  const value = authorization.trim();
  const bearer = /^bearer\s+(\S+)$/i.exec(value);
  if (bearer?.[1] !== undefined) return bearer[1];
  const basic = /^basic\s+([A-Za-z0-9+/=_-]+)$/i.exec(value);
  if (acceptBasic && basic?.[1] !== undefined) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    return user !== '' ? user : password !== '' ? password : undefined;
  }
  return undefined;
}

function unauthorized(c: Context, message: string): Response {
  const response = problemResponse(c, new TidewayError(ErrorCode.Unauthorized, message));
  response.headers.set('www-authenticate', 'Bearer realm="tideway"');
  return response;
}

/**
 * Authenticates every request with an API key and puts its principal in `c.var.principal`: a missing, unknown or
 * revoked key answers 401 (with `WWW-Authenticate`), a key without the route's scope 403. With `mode: 'off'` every
 * request acts as an anonymous admin of `defaultTenant`.
 *
 * @example
 * app.use('/v1/*', authenticate({ mode: 'required', keys, defaultTenant: 'default', scope: 'query', tenantQueryParam: 'tenant' }));
 */
export function authenticate(options: AuthenticateOptions): MiddlewareHandler<AuthEnv> {
  if (options.mode === 'required' && options.keys === undefined) throw new Error('authenticate: keys are required');
  const anonymous: Principal = {
    tenant: options.defaultTenant,
    keyId: 'anonymous',
    scopes: ['admin'],
    anonymous: true,
  };
  return async (c, next) => {
    let principal = anonymous;
    if (options.mode === 'required') {
      const key = requestKey(c.req.header('authorization'), options.acceptBasic);
      if (key === undefined) {
        return unauthorized(
          c,
          options.acceptBasic
            ? 'an API key is required (Authorization: Bearer <key>, or the Segment write key as Basic user)'
            : 'an API key is required (Authorization: Bearer <key>)',
        );
      }
      let found: Principal | undefined;
      try {
        found = await options.keys!.verify(key);
      } catch (cause) {
        const error = new TidewayError(
          ErrorCode.StoreUnavailable,
          'API keys cannot be checked right now',
          { retryAfterSeconds: 1 },
          { cause },
        );
        return problemResponse(c, error);
      }
      if (found === undefined) return unauthorized(c, 'the API key is unknown or revoked');
      principal = found;
    }
    if (options.scope !== undefined && !hasScope(principal, options.scope)) {
      return problemResponse(c, new TidewayError(ErrorCode.Forbidden, `this key lacks the "${options.scope}" scope`));
    }
    if (options.tenantQueryParam !== undefined && !principal.anonymous) {
      const url = new URL(c.req.url);
      const asked = url.searchParams.get(options.tenantQueryParam);
      if (asked !== null && asked !== principal.tenant) {
        return problemResponse(
          c,
          new TidewayError(
            ErrorCode.TenantMismatch,
            `this key belongs to tenant "${principal.tenant}", not "${asked}"`,
          ),
        );
      }
      if (asked === null) {
        url.searchParams.set(options.tenantQueryParam, principal.tenant);
        c.req.raw = new Request(url, c.req.raw);
      }
    }
    c.set('principal', principal);
    await next();
    return undefined;
  };
}

/** Requires a scope on one route of an authenticated app (403 `forbidden` without it). */
export function requireScope(scope: Scope): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    if (!hasScope(c.var.principal, scope)) {
      return problemResponse(c, new TidewayError(ErrorCode.Forbidden, `this key lacks the "${scope}" scope`));
    }
    await next();
    return undefined;
  };
}
