import { z } from 'zod';
import { EventTypeSchema, fieldIssues, type FieldIssue } from '@tideway/events';
import {
  checkBackwardCompatibility,
  isBackwardCompatible,
  type CompatibilityIssue,
  type JsonSchema,
} from './compatibility.ts';

/** One registered version of an event type's payload schema. */
export interface SchemaVersion {
  readonly type: string;
  /** 1, 2, 3… in registration order. */
  readonly version: number;
  readonly schema: z.ZodType;
  /** The schema as JSON Schema (draft 2020-12, the input side: what a producer may send). */
  readonly jsonSchema: JsonSchema;
  readonly description?: string;
  /** What the compatibility check reported against the previous version (warnings only; breaking ones are refused). */
  readonly compatibility: readonly CompatibilityIssue[];
}

/** The outcome of validating a payload. `version` is the schema version checked, absent for unregistered types. */
export type SchemaValidation =
  | { readonly ok: true; readonly version?: number; readonly data: unknown }
  | { readonly ok: false; readonly version?: number; readonly issues: readonly FieldIssue[] };

/** Thrown when a new version would refuse payloads the previous version accepted. */
export class IncompatibleSchemaError extends Error {
  override readonly name = 'IncompatibleSchemaError';
  constructor(
    readonly type: string,
    readonly version: number,
    readonly issues: readonly CompatibilityIssue[],
  ) {
    super(
      `schema ${type} v${version} is not backward compatible with v${version - 1}: ` +
        issues
          .filter((i) => i.severity === 'breaking')
          .map((i) => `${i.pointer || '/'} ${i.message}`)
          .join('; '),
    );
  }
}

/** The JSON Schema of a zod schema, as a producer sees it (input side; transforms are not representable). */
export function toJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
}

/**
 * The `dataschema` value that pins a payload to one version: `urn:tideway:schema:<type>:<version>`. A producer may
 * send it (or any URI ending in `/schemas/<type>/<version>`, such as the registry's own URL) to be validated
 * against that version instead of the latest.
 */
export function dataSchemaUri(type: string, version: number): string {
  return `urn:tideway:schema:${type}:${version}`;
}

const URN = /^urn:tideway:schema:([^:]+):(\d+)$/;
const URL_PATH = /\/schemas\/([^/]+)\/v?(\d+)$/;

/** The version a `dataschema` attribute pins for `type`, or `undefined` when it pins none. */
export function pinnedVersion(type: string, dataschema: string | undefined): number | undefined {
  if (dataschema === undefined) return undefined;
  const match = URN.exec(dataschema) ?? URL_PATH.exec(dataschema);
  if (match === null || match[1] !== type) return undefined;
  return Number(match[2]);
}

/**
 * Versioned payload schemas per event type. Versions are zod schemas in code; registering a new version runs the
 * backward-compatibility check against the previous one and refuses a breaking change. Validation uses the latest
 * version, or the one a producer pinned with `dataschema`. Types with no registered schema accept any payload.
 *
 * @example
 * const registry = new SchemaRegistry()
 *   .register('iot.sensor.reading', SensorReadingV1)
 *   .register('iot.sensor.reading', SensorReadingV2); // throws IncompatibleSchemaError if v2 breaks v1 payloads
 * registry.validate('iot.sensor.reading', data); // { ok: true, version: 2, data }
 */
export class SchemaRegistry {
  private readonly byType = new Map<string, SchemaVersion[]>();

  /** Registers the next version of `type`. @throws IncompatibleSchemaError, or Error for a bad type name. */
  register(type: string, schema: z.ZodType, options: { description?: string } = {}): this {
    if (!EventTypeSchema.safeParse(type).success) throw new Error(`"${type}" is not a valid event type`);
    const versions = this.byType.get(type) ?? [];
    const version = versions.length + 1;
    const jsonSchema = toJsonSchema(schema);
    const previous = versions.at(-1);
    const compatibility = previous === undefined ? [] : checkBackwardCompatibility(previous.jsonSchema, jsonSchema);
    if (!isBackwardCompatible(compatibility)) throw new IncompatibleSchemaError(type, version, compatibility);
    versions.push({
      type,
      version,
      schema,
      jsonSchema,
      compatibility,
      ...(options.description ? { description: options.description } : {}),
    });
    this.byType.set(type, versions);
    return this;
  }

  /** Registered event types, sorted. */
  types(): string[] {
    return [...this.byType.keys()].sort();
  }

  /** Every version of a type, oldest first (empty for an unregistered type). */
  versions(type: string): readonly SchemaVersion[] {
    return this.byType.get(type) ?? [];
  }

  latest(type: string): SchemaVersion | undefined {
    return this.byType.get(type)?.at(-1);
  }

  get(type: string, version: number): SchemaVersion | undefined {
    return this.byType.get(type)?.[version - 1];
  }

  /**
   * Checks a candidate next version, given as JSON Schema, against the latest registered version, without
   * registering it. For an unregistered type every candidate is compatible.
   */
  checkCandidate(
    type: string,
    candidate: JsonSchema,
  ): { compatible: boolean; against?: number; issues: readonly CompatibilityIssue[] } {
    const latest = this.latest(type);
    if (latest === undefined) return { compatible: true, issues: [] };
    const issues = checkBackwardCompatibility(latest.jsonSchema, candidate);
    return { compatible: isBackwardCompatible(issues), against: latest.version, issues };
  }

  /**
   * Validates an event's payload. `dataschema` may pin a version (see {@link pinnedVersion}); an unknown pinned
   * version fails. Issue pointers are prefixed with `/data` (and the item index, when given).
   */
  validate(type: string, data: unknown, options: { dataschema?: string; index?: number } = {}): SchemaValidation {
    const versions = this.byType.get(type);
    if (versions === undefined) return { ok: true, data };
    const pinned = pinnedVersion(type, options.dataschema);
    const entry = pinned === undefined ? versions.at(-1)! : versions[pinned - 1];
    if (entry === undefined) {
      const pointer = options.index === undefined ? '/dataschema' : `/${options.index}/dataschema`;
      return {
        ok: false,
        version: pinned,
        issues: [
          {
            ...(options.index === undefined ? {} : { index: options.index }),
            pointer,
            message: `${type} has no schema version ${pinned} (latest is ${versions.length})`,
          },
        ],
      };
    }
    const result = entry.schema.safeParse(data);
    if (result.success) return { ok: true, version: entry.version, data };
    return { ok: false, version: entry.version, issues: fieldIssues(result.error, options.index, ['data']) };
  }

  /** Every type with its versions and JSON Schemas, for `GET /v1/schemas`. */
  describe(): {
    type: string;
    latest: number;
    versions: {
      version: number;
      id: string;
      description?: string;
      schema: JsonSchema;
      compatibility: readonly CompatibilityIssue[];
    }[];
  }[] {
    return this.types().map((type) => this.describeType(type)!);
  }

  /** One type for `GET /v1/schemas/:type`; `undefined` when unregistered. */
  describeType(type: string): ReturnType<SchemaRegistry['describe']>[number] | undefined {
    const versions = this.byType.get(type);
    if (versions === undefined) return undefined;
    return {
      type,
      latest: versions.length,
      versions: versions.map((v) => ({
        version: v.version,
        id: dataSchemaUri(type, v.version),
        ...(v.description ? { description: v.description } : {}),
        schema: v.jsonSchema,
        compatibility: v.compatibility,
      })),
    };
  }
}
