import { z } from 'zod';
import { MIN_KEY_LENGTH } from './keys.ts';

/**
 * The environment of authentication, shared by every app that serves the API (spread into the app's env shape):
 *
 * - `TIDEWAY_AUTH`: `required` (default) or `off` (local demos: every caller is an anonymous admin of the default
 *   tenant, as before keys existed);
 * - `TIDEWAY_BOOTSTRAP_KEY`: a key the app registers at start as an `admin` key of tenant `default`;
 * - `TIDEWAY_KEY_CACHE_SECONDS`: how long a verified key is cached per process (so a revocation takes effect on
 *   other replicas within this time).
 */
export const authEnv = {
  TIDEWAY_AUTH: z.enum(['required', 'off']).default('required'),
  TIDEWAY_BOOTSTRAP_KEY: z.string().min(MIN_KEY_LENGTH, `must be at least ${MIN_KEY_LENGTH} characters`).optional(),
  TIDEWAY_KEY_CACHE_SECONDS: z.coerce.number().min(0).max(300).default(5),
};

/** The tenant of the bootstrap key. */
export const BOOTSTRAP_TENANT = 'default';
