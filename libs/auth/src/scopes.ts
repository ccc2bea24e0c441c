import { z } from 'zod';

/** What a key may do. `admin` includes the others and adds key management and quarantine rejection. */
export const SCOPES = ['ingest', 'query', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export const ScopeSchema = z.enum(SCOPES);

/** Who a request acts for. */
export interface Principal {
  readonly tenant: string;
  /** The key's public id; `anonymous` when authentication is off. */
  readonly keyId: string;
  readonly scopes: readonly Scope[];
  /** True when authentication is off: the caller may name any tenant in its events (the pre-auth behaviour). */
  readonly anonymous: boolean;
}

/** Whether a principal holds a scope (`admin` holds every scope). */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes(scope) || principal.scopes.includes('admin');
}
