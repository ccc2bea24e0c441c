import { z } from 'zod';
import { ErrorCode, EventTypeSchema, TidewayError, type EventInput, type FieldIssue } from '@tideway/events';
import { decodeData } from './data-encoding.ts';
import {
  bodyText,
  headerValue,
  isJsonMediaType,
  parseDateTime,
  parseMediaType,
  readPointer,
  type ProducerRequest,
} from './request.ts';
import { defaultEventValidator, eventsOrThrow, reasonOf, type EventValidator, type ParsedItem } from './items.ts';
import {
  verifyGithub,
  verifyHmac,
  verifyStandard,
  verifyStripe,
  type VerificationContext,
} from './webhook-signatures.ts';

/** The signature schemes a webhook source can use. */
export const WEBHOOK_SCHEMES = ['github', 'stripe', 'standard', 'hmac-sha256'] as const;
export type WebhookScheme = (typeof WEBHOOK_SCHEMES)[number];

/** Default freshness window of signed timestamps (Stripe's and Standard Webhooks' default). */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** Where a mapped value comes from: a request header, or a JSON pointer into the body; `prefix` is prepended. */
export const WebhookValueRefSchema = z.union([
  z.object({ header: z.string().min(1), prefix: z.string().optional() }).strict(),
  z
    .object({
      pointer: z.string().regex(/^(\/.*)?$/, 'pointer must be a JSON pointer ("/a/b")'),
      prefix: z.string().optional(),
    })
    .strict(),
]);
export type WebhookValueRef = z.infer<typeof WebhookValueRefSchema>;

/**
 * How a verified request becomes an event. Every field overrides the scheme's default (see
 * {@link createWebhookRegistry}); `data` is always the whole body.
 */
export const WebhookMappingSchema = z
  .object({
    /** CloudEvents `source`. Default `/webhooks/<name>`. */
    source: z.string().min(1).max(512).optional(),
    /** A fixed event type, or where to read it. */
    type: z.union([EventTypeSchema, WebhookValueRefSchema]).optional(),
    id: WebhookValueRefSchema.optional(),
    subject: WebhookValueRefSchema.optional(),
    /** An RFC 3339 string, or a unix time number in `timeUnit`. */
    time: WebhookValueRefSchema.optional(),
    timeUnit: z.enum(['seconds', 'milliseconds']).optional(),
  })
  .strict();
export type WebhookMapping = z.infer<typeof WebhookMappingSchema>;

const common = {
  /** The source's name: the `:name` of the webhook URL, and the default `source` and type prefix. */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'name must be 1-63 chars of [a-z0-9_-]'),
  /** The signing secret; several during a rotation. */
  secret: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  mapping: WebhookMappingSchema.optional(),
};
const tolerance = z.number().int().positive().optional();

/**
 * One configured webhook source. Apps parse their configuration with this schema at start-up; the registry parses
 * again, so a bad source fails fast either way.
 */
export const WebhookSourceSchema = z.discriminatedUnion('scheme', [
  z.object({ ...common, scheme: z.literal('github') }).strict(),
  z.object({ ...common, scheme: z.literal('stripe'), toleranceSeconds: tolerance }).strict(),
  z.object({ ...common, scheme: z.literal('standard'), toleranceSeconds: tolerance }).strict(),
  z
    .object({
      ...common,
      scheme: z.literal('hmac-sha256'),
      toleranceSeconds: tolerance,
      /** Header holding the signature. Default `x-signature`. */
      signatureHeader: z.string().min(1).optional(),
      /** Default `hex`. */
      encoding: z.enum(['hex', 'base64']).optional(),
      /** Text before the signature to strip, e.g. `sha256=`. */
      signaturePrefix: z.string().min(1).optional(),
      /** When set, the signed content is `${timestamp}.${body}` and the timestamp must be fresh. */
      timestampHeader: z.string().min(1).optional(),
    })
    .strict(),
]);
export type WebhookSourceConfig = z.input<typeof WebhookSourceSchema>;

/** Options of {@link createWebhookRegistry}. */
export interface WebhookRegistryOptions {
  /** The clock for timestamp tolerance checks. Default `() => new Date()`. */
  readonly now?: () => Date;
}

/** The configured webhook sources of a gateway. */
export interface WebhookRegistry {
  /** Names of the configured sources. */
  readonly names: readonly string[];
  /**
   * Checks the request's signature against the named source.
   *
   * @throws TidewayError `webhook-unknown-source` (404), `webhook-signature-missing`, `webhook-signature-invalid`,
   *   `webhook-timestamp-outside-tolerance` (401).
   */
  verify(name: string, request: ProducerRequest): void;
  /**
   * Verifies the request, then maps it to one event input (in an array, like every producer parser).
   *
   * @throws TidewayError as {@link WebhookRegistry.verify}; `invalid-body` for a JSON body that is not JSON;
   *   `invalid-event` when the mapping finds no usable type, or the event fails validation.
   */
  parse(name: string, request: ProducerRequest): EventInput[];
  /**
   * Verifies the request (throwing as {@link WebhookRegistry.verify}), then maps it to one parsed item: the event,
   * or the issues and the request body as the original, for a gateway to quarantine a signed but unusable delivery.
   *
   * @throws TidewayError as {@link WebhookRegistry.verify}.
   */
  parseItems(name: string, request: ProducerRequest, options?: { validate?: EventValidator }): ParsedItem[];
}

interface Source {
  readonly config: z.infer<typeof WebhookSourceSchema>;
  readonly keys: readonly Uint8Array[];
  readonly mapping: WebhookMapping & {
    source: string;
    type: string | WebhookValueRef;
    timeUnit: 'seconds' | 'milliseconds';
  };
}

function defaultMapping(config: z.infer<typeof WebhookSourceSchema>): Source['mapping'] {
  const base = { source: `/webhooks/${config.name}`, timeUnit: 'seconds' as const };
  switch (config.scheme) {
    case 'github':
      return {
        ...base,
        type: { header: 'x-github-event', prefix: 'github.' },
        id: { header: 'x-github-delivery' },
        subject: { pointer: '/repository/full_name' },
      };
    case 'stripe':
      return {
        ...base,
        type: { pointer: '/type', prefix: 'stripe.' },
        id: { pointer: '/id' },
        time: { pointer: '/created' },
        subject: { pointer: '/data/object/id' },
      };
    case 'standard':
      return {
        ...base,
        type: { pointer: '/type', prefix: `${config.name}.` },
        id: { header: 'webhook-id' },
        time: { pointer: '/timestamp' },
      };
    case 'hmac-sha256':
      return { ...base, type: `webhook.${config.name}` };
  }
}

/** HMAC keys of a source: Standard Webhooks secrets are base64 after `whsec_`; the others are the secret's bytes. */
function keysOf(config: z.infer<typeof WebhookSourceSchema>): Uint8Array[] {
  const secrets = typeof config.secret === 'string' ? [config.secret] : config.secret;
  return secrets.map((secret) => {
    if (config.scheme !== 'standard') return Buffer.from(secret, 'utf8');
    const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
    const key = Buffer.from(encoded, 'base64');
    if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
      throw new Error(
        `webhook source "${config.name}": a Standard Webhooks secret must be "whsec_" followed by base64`,
      );
    }
    return key;
  });
}

/**
 * Builds the registry of a gateway's webhook sources. Each source names a signature scheme and how its requests
 * become events; the defaults per scheme are:
 *
 * | scheme | signature | type | id | time | subject |
 * | --- | --- | --- | --- | --- | --- |
 * | `github` | `X-Hub-Signature-256` | `github.<X-GitHub-Event>` | `X-GitHub-Delivery` | receive time | `/repository/full_name` |
 * | `stripe` | `Stripe-Signature`, 300 s | `stripe.<type>` | `/id` | `/created` | `/data/object/id` |
 * | `standard` | `webhook-signature`, 300 s | `<name>.<type>` | `webhook-id` | `/timestamp` | — |
 * | `hmac-sha256` | `X-Signature` (hex) | `webhook.<name>` | — | receive time | — |
 *
 * Without an id the gateway assigns one, so retried deliveries of such a source are not de-duplicated: map `id`
 * to the producer's delivery id where it has one. Signatures are compared in constant time over the raw body bytes.
 *
 * @throws Error when a source is misconfigured or two share a name.
 * @example
 * const webhooks = createWebhookRegistry([{ name: 'gh', scheme: 'github', secret: env.GITHUB_WEBHOOK_SECRET }]);
 * const events = webhooks.parse('gh', { headers: c.req.raw.headers, body: new Uint8Array(await c.req.arrayBuffer()) });
 */
export function createWebhookRegistry(
  sources: readonly WebhookSourceConfig[],
  options: WebhookRegistryOptions = {},
): WebhookRegistry {
  const now = options.now ?? (() => new Date());
  const byName = new Map<string, Source>();
  sources.forEach((input, index) => {
    const parsed = WebhookSourceSchema.safeParse(input);
    if (!parsed.success)
      throw new Error(`webhook source #${index}: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
    const config = parsed.data;
    if (byName.has(config.name)) throw new Error(`webhook source "${config.name}" is configured twice`);
    byName.set(config.name, {
      config,
      keys: keysOf(config),
      mapping: { ...defaultMapping(config), ...config.mapping },
    });
  });

  const lookup = (name: string): Source => {
    const source = byName.get(name);
    if (source === undefined)
      throw new TidewayError(ErrorCode.WebhookUnknownSource, `no webhook source is named "${name}"`, { source: name });
    return source;
  };

  const verify = (name: string, request: ProducerRequest): void => {
    const { config, keys } = lookup(name);
    const ctx: VerificationContext = {
      source: config.name,
      keys,
      toleranceSeconds:
        ('toleranceSeconds' in config ? config.toleranceSeconds : undefined) ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
      now,
    };
    switch (config.scheme) {
      case 'github':
        return verifyGithub(request, ctx);
      case 'stripe':
        return verifyStripe(request, ctx);
      case 'standard':
        return verifyStandard(request, ctx);
      case 'hmac-sha256':
        return verifyHmac(request, ctx, {
          signatureHeader: config.signatureHeader ?? 'x-signature',
          encoding: config.encoding ?? 'hex',
          signaturePrefix: config.signaturePrefix,
          timestampHeader: config.timestampHeader,
        });
    }
  };

  return {
    names: [...byName.keys()],
    verify,
    parse(name, request) {
      verify(name, request);
      return eventsOrThrow([toItem(lookup(name).mapping, request, defaultEventValidator, true)], true);
    },
    parseItems(name, request, parseOptions = {}) {
      verify(name, request);
      return [toItem(lookup(name).mapping, request, parseOptions.validate ?? defaultEventValidator)];
    },
  };
}

/** The body as `data`: JSON (and GitHub's form-encoded `payload=`) parsed, other content types per `dataEncodingOf`. */
function webhookData(request: ProducerRequest): { data: unknown; datacontenttype: string } | undefined {
  const contentType = headerValue(request.headers, 'content-type');
  const media = parseMediaType(contentType);
  const empty = typeof request.body === 'string' ? request.body.length === 0 : request.body.byteLength === 0;
  if (empty) return undefined;
  if (media?.type === 'application/x-www-form-urlencoded') {
    const params = new URLSearchParams(bodyText(request.body) ?? '');
    const payload = params.get('payload');
    if (payload !== null)
      return {
        data: decodeData(payload, 'application/json', 'the payload form field'),
        datacontenttype: 'application/json',
      };
    return { data: Object.fromEntries(params), datacontenttype: 'application/json' };
  }
  if (media === undefined || isJsonMediaType(media.type)) {
    return { data: decodeData(request.body, 'application/json'), datacontenttype: 'application/json' };
  }
  return { data: decodeData(request.body, contentType), datacontenttype: contentType ?? 'application/octet-stream' };
}

function describeRef(ref: WebhookValueRef): string {
  return 'header' in ref ? `the ${ref.header} header` : `the body at ${ref.pointer || '/'}`;
}

function readRef(ref: WebhookValueRef, request: ProducerRequest, data: unknown): string | number | undefined {
  const value = 'header' in ref ? headerValue(request.headers, ref.header)?.trim() : readPointer(data, ref.pointer);
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value !== '') return value;
  return undefined;
}

function toItem(
  mapping: Source['mapping'],
  request: ProducerRequest,
  validate: EventValidator,
  throwUnparseable = false,
): ParsedItem {
  const original = {
    payload: request.body,
    contentType: headerValue(request.headers, 'content-type') ?? 'application/octet-stream',
  };
  let body: ReturnType<typeof webhookData>;
  try {
    body = webhookData(request);
  } catch (error) {
    if (!(error instanceof TidewayError) || throwUnparseable) throw error;
    return { index: 0, ok: false, issues: [{ pointer: '', message: error.message }], original, reason: 'unparseable' };
  }
  const issues: FieldIssue[] = [];
  const text = (ref: WebhookValueRef | undefined): string | undefined => {
    if (ref === undefined) return undefined;
    const value = readRef(ref, request, body?.data);
    return value === undefined ? undefined : `${ref.prefix ?? ''}${value}`;
  };

  let type: string | undefined;
  if (typeof mapping.type === 'string') {
    type = mapping.type;
  } else {
    type = text(mapping.type);
    if (type === undefined)
      issues.push({ pointer: '/type', message: `no event type: ${describeRef(mapping.type)} is missing` });
  }

  let time: string | undefined;
  if (mapping.time !== undefined) {
    const raw = readRef(mapping.time, request, body?.data);
    if (raw !== undefined) {
      const date =
        typeof raw === 'number' ? new Date(mapping.timeUnit === 'seconds' ? raw * 1000 : raw) : parseDateTime(raw);
      if (date === undefined || Number.isNaN(date.getTime())) {
        issues.push({ pointer: '/time', message: `${describeRef(mapping.time)} is not a date-time or unix time` });
      } else {
        time = date.toISOString();
      }
    }
  }

  const id = text(mapping.id);
  const subject = text(mapping.subject);
  const candidate = {
    specversion: '1.0',
    ...(id === undefined ? {} : { id }),
    source: mapping.source,
    type,
    ...(subject === undefined ? {} : { subject }),
    ...(time === undefined ? {} : { time }),
    ...(body ?? {}),
  };
  const result = validate(candidate);
  const version = result.schemaVersion === undefined ? {} : { schemaVersion: result.schemaVersion };
  if (result.ok && issues.length === 0) return { index: 0, ok: true, event: result.value, ...version };
  if (!result.ok) issues.push(...result.issues.filter((issue) => !(issue.pointer === '/type' && type === undefined)));
  return {
    index: 0,
    ok: false,
    issues,
    original,
    reason: reasonOf(issues, result.ok ? undefined : result.reason),
    ...version,
  };
}
