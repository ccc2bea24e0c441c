import { ErrorCode, TidewayError, isTidewayError } from '@tideway/events';

/** A driver error with a PostgreSQL SQLSTATE or a postgres.js / socket code. */
function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps store errors to the API's problems: a statement that hit the statement timeout is 503 (the service is
 * fine; the query was too heavy), a value PostgreSQL cannot take is 400, an unreachable database 503. Anything
 * else is returned unchanged (a 500 with the error logged).
 */
export function storeProblem(error: unknown): unknown {
  if (isTidewayError(error)) return error;
  const code = codeOf(error);
  if (code === undefined) return error;
  if (code === '57014') {
    return new TidewayError(ErrorCode.StoreUnavailable, 'the query ran into the statement timeout; narrow the time range or add filters', { retryAfterSeconds: 1, reason: 'statement-timeout' }, { cause: error });
  }
  if (code.startsWith('22')) {
    return new TidewayError(ErrorCode.InvalidQuery, 'a parameter value cannot be used in a query', { issues: [{ pointer: '/', message: 'a value is out of range or not valid text' }] }, { cause: error });
  }
  if (code.startsWith('08') || code === '53300' || code === '57P01' || code === '57P03' || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code.startsWith('CONNECT')) {
    return new TidewayError(ErrorCode.StoreUnavailable, 'the warm store is unreachable', { retryAfterSeconds: 1 }, { cause: error });
  }
  return error;
}
