/**
 * Access control for Tideway's HTTP APIs: API keys bound to a tenant and scopes (hashed in PostgreSQL), the Hono
 * middleware that enforces them, a per-key rate limiter in Redis shared by replicas, and the security audit log.
 */
export { SCOPES, ScopeSchema, hasScope, type Scope, type Principal } from './scopes.ts';
export {
  AUTH_MIGRATIONS_FOLDER,
  AUTH_MIGRATIONS_TABLE,
  openAuthStore,
  migrateAuthStore,
  type AuthStore,
  type AuthStoreOptions,
  type AuthDatabase,
} from './db.ts';
export {
  ApiKeyStore,
  MIN_KEY_LENGTH,
  hashKey,
  generateKey,
  type ApiKeyInfo,
  type CreatedApiKey,
  type ApiKeyStoreOptions,
} from './keys.ts';
export {
  authenticate,
  requireScope,
  requestKey,
  type AuthEnv,
  type AuthMode,
  type AuthenticateOptions,
} from './middleware.ts';
export { RedisRateLimiter, type RateLimitDecision, type RateLimiterOptions } from './rate-limit.ts';
export { AuditLog, type AuditEntry, type AuditRecord, type AuditLogOptions } from './audit.ts';
export { authEnv, BOOTSTRAP_TENANT } from './env.ts';
export { openAuth, type OpenAuthOptions, type AuthRuntime } from './runtime.ts';
export { apiKeys, securityAudit } from './schema.ts';
