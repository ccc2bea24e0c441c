import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, TidewayError } from '@tideway/events';
import { bodyBytes, headerValue, type ProducerRequest } from './request.ts';

/** What verifying one request needs besides the request: the source's secrets and clock. */
export interface VerificationContext {
  /** The source's name, for error messages and details. */
  readonly source: string;
  /** HMAC keys; several during a rotation, any of them may have signed. */
  readonly keys: readonly Uint8Array[];
  /** How far a signed timestamp may be from `now`, either way. */
  readonly toleranceSeconds: number;
  readonly now: () => Date;
}

/** Options of the generic `hmac-sha256` scheme. */
export interface HmacOptions {
  /** Header holding the signature, e.g. `X-Signature`. */
  readonly signatureHeader: string;
  /** How the signature is written. */
  readonly encoding: 'hex' | 'base64';
  /** Text before the signature to strip, e.g. `sha256=`. */
  readonly signaturePrefix?: string | undefined;
  /** Header holding a unix-seconds timestamp; when set, the signed content is `${timestamp}.${body}` and checked for freshness. */
  readonly timestampHeader?: string | undefined;
}

function hmac(key: Uint8Array, ...parts: readonly (string | Uint8Array)[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Constant-time equality of a computed digest and a presented one (length is not secret). */
function digestEquals(expected: Uint8Array, presented: Uint8Array): boolean {
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

function decodeSignature(value: string, encoding: 'hex' | 'base64'): Buffer | undefined {
  if (encoding === 'hex') return HEX.test(value) ? Buffer.from(value, 'hex') : undefined;
  return BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
}

function missing(ctx: VerificationContext, header: string): TidewayError {
  return new TidewayError(
    ErrorCode.WebhookSignatureMissing,
    `webhook source "${ctx.source}": the ${header} header is missing`,
    {
      source: ctx.source,
      header,
    },
  );
}

function invalid(ctx: VerificationContext, reason: string): TidewayError {
  return new TidewayError(ErrorCode.WebhookSignatureInvalid, `webhook source "${ctx.source}": ${reason}`, {
    source: ctx.source,
  });
}

function unixSeconds(ctx: VerificationContext, value: string, header: string): number {
  if (!/^\d{1,12}$/.test(value.trim())) throw invalid(ctx, `the ${header} timestamp is not unix seconds`);
  return Number(value.trim());
}

function checkFreshness(ctx: VerificationContext, timestamp: number): void {
  const now = Math.floor(ctx.now().getTime() / 1000);
  const skew = now - timestamp;
  if (Math.abs(skew) > ctx.toleranceSeconds) {
    throw new TidewayError(
      ErrorCode.WebhookTimestampOutsideTolerance,
      `webhook source "${ctx.source}": the signed timestamp is ${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'}; at most ${ctx.toleranceSeconds} s is accepted`,
      { source: ctx.source, timestamp, toleranceSeconds: ctx.toleranceSeconds },
    );
  }
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. */
export function verifyGithub(request: ProducerRequest, ctx: VerificationContext): void {
  const header = headerValue(request.headers, 'x-hub-signature-256')?.trim();
  if (!header) throw missing(ctx, 'X-Hub-Signature-256');
  const presented = header.startsWith('sha256=') ? decodeSignature(header.slice('sha256='.length), 'hex') : undefined;
  if (presented === undefined) throw invalid(ctx, 'X-Hub-Signature-256 is not "sha256=<hex>"');
  const body = bodyBytes(request.body);
  if (!ctx.keys.some((key) => digestEquals(hmac(key, body), presented)))
    throw invalid(ctx, 'the signature does not match the body');
}

/**
 * Stripe: `Stripe-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "${t}.${body}">[,v1=…]`; any `v1` may match (secret
 * rolling). The timestamp must be within the tolerance.
 */
export function verifyStripe(request: ProducerRequest, ctx: VerificationContext): void {
  const header = headerValue(request.headers, 'stripe-signature')?.trim();
  if (!header) throw missing(ctx, 'Stripe-Signature');
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') timestamp = value;
    else if (key === 'v1') {
      const decoded = decodeSignature(value, 'hex');
      if (decoded) signatures.push(decoded);
    }
  }
  if (timestamp === undefined) throw invalid(ctx, 'Stripe-Signature has no timestamp (t=)');
  if (signatures.length === 0) throw invalid(ctx, 'Stripe-Signature has no v1 signature');
  const t = unixSeconds(ctx, timestamp, 'Stripe-Signature');
  const body = bodyBytes(request.body);
  const matches = ctx.keys.some((key) => {
    const expected = hmac(key, `${timestamp}.`, body);
    return signatures.some((signature) => digestEquals(expected, signature));
  });
  if (!matches) throw invalid(ctx, 'no v1 signature matches the body');
  checkFreshness(ctx, t);
}

/**
 * Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of "${webhook-id}.${webhook-timestamp}.${body}">`
 * (space-separated, any may match), keyed by the base64 secret after `whsec_`. The timestamp must be within the
 * tolerance.
 */
export function verifyStandard(request: ProducerRequest, ctx: VerificationContext): void {
  const id = headerValue(request.headers, 'webhook-id')?.trim();
  const timestamp = headerValue(request.headers, 'webhook-timestamp')?.trim();
  const header = headerValue(request.headers, 'webhook-signature')?.trim();
  if (!header) throw missing(ctx, 'webhook-signature');
  if (!id) throw missing(ctx, 'webhook-id');
  if (!timestamp) throw missing(ctx, 'webhook-timestamp');
  const t = unixSeconds(ctx, timestamp, 'webhook-timestamp');
  const signatures = header
    .split(' ')
    .filter((part) => part.startsWith('v1,'))
    .flatMap((part) => decodeSignature(part.slice(3), 'base64') ?? []);
  if (signatures.length === 0) throw invalid(ctx, 'webhook-signature has no v1 signature');
  const body = bodyBytes(request.body);
  const matches = ctx.keys.some((key) => {
    const expected = hmac(key, `${id}.${timestamp}.`, body);
    return signatures.some((signature) => digestEquals(expected, signature));
  });
  if (!matches) throw invalid(ctx, 'no v1 signature matches the body');
  checkFreshness(ctx, t);
}

/** Generic HMAC-SHA256 over the raw body, or over `${timestamp}.${body}` when a timestamp header is configured. */
export function verifyHmac(request: ProducerRequest, ctx: VerificationContext, options: HmacOptions): void {
  let value = headerValue(request.headers, options.signatureHeader)?.trim();
  if (!value) throw missing(ctx, options.signatureHeader);
  if (options.signaturePrefix !== undefined) {
    if (!value.startsWith(options.signaturePrefix))
      throw invalid(ctx, `${options.signatureHeader} does not start with "${options.signaturePrefix}"`);
    value = value.slice(options.signaturePrefix.length);
  }
  const presented = decodeSignature(value, options.encoding);
  if (presented === undefined) throw invalid(ctx, `${options.signatureHeader} is not ${options.encoding}`);
  let prefix = '';
  let timestamp: number | undefined;
  if (options.timestampHeader !== undefined) {
    const raw = headerValue(request.headers, options.timestampHeader)?.trim();
    if (!raw) throw missing(ctx, options.timestampHeader);
    timestamp = unixSeconds(ctx, raw, options.timestampHeader);
    prefix = `${raw}.`;
  }
  const body = bodyBytes(request.body);
  if (!ctx.keys.some((key) => digestEquals(hmac(key, prefix, body), presented)))
    throw invalid(ctx, 'the signature does not match the body');
  if (timestamp !== undefined) checkFreshness(ctx, timestamp);
}
