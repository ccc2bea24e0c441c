/**
 * Backward compatibility of JSON Schemas, in the schema-registry sense: a new version is backward compatible with
 * the previous one when every payload the previous version accepted is still accepted, so consumers written against
 * the new version can read every event already in the log, and producers still on the old shape are not
 * quarantined after the upgrade.
 *
 * The check is structural and conservative: it compares the keywords zod emits (`type`, `properties`, `required`,
 * `additionalProperties`, `items`, `enum`/`const`, bounds, `pattern`, `format`, `anyOf`/`oneOf`) and reports as
 * breaking any constraining keyword it cannot prove was only relaxed.
 */

/** A JSON Schema (draft 2020-12), or a boolean schema. */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/** One finding of {@link checkBackwardCompatibility}. */
export interface CompatibilityIssue {
  /** JSON pointer into the payload where the schemas differ, e.g. `/reading_value`. */
  readonly pointer: string;
  readonly message: string;
  /**
   * `breaking`: a payload valid under the previous version is refused by the new one.
   * `warning`: only breaking for payloads that used a field the previous version did not describe (a property added
   * to an open object): accepted, but reported.
   */
  readonly severity: 'breaking' | 'warning';
}

/** Keywords that describe without constraining. */
const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$defs',
  '$comment',
  'definitions',
  'id',
  'title',
  'description',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
]);

/** Keywords this check understands; any other constraining keyword that changed is reported as breaking. */
const HANDLED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'anyOf',
  'oneOf',
  '$ref',
]);

type Obj = Readonly<Record<string, unknown>>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pointerOf(path: readonly string[]): string {
  return path.map((p) => '/' + p.replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

/** True when the schema accepts every value: `true`, `{}` or only annotations. */
function acceptsAll(schema: JsonSchema): boolean {
  if (schema === true) return true;
  if (schema === false) return false;
  return Object.keys(schema).every((k) => ANNOTATIONS.has(k));
}

function typesOf(schema: Obj): Set<string> | undefined {
  const type = schema['type'];
  if (typeof type === 'string') return new Set([type]);
  if (Array.isArray(type)) return new Set(type.filter((t): t is string => typeof t === 'string'));
  return undefined;
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

class Checker {
  readonly issues: CompatibilityIssue[] = [];
  constructor(
    private readonly oldRoot: JsonSchema,
    private readonly newRoot: JsonSchema,
  ) {}

  private resolve(schema: JsonSchema, root: JsonSchema, seen = 0): JsonSchema {
    if (!isObj(schema) || typeof schema['$ref'] !== 'string' || seen > 32) return schema;
    const ref = schema['$ref'];
    if (!ref.startsWith('#/') || !isObj(root)) return schema;
    let target: unknown = root;
    for (const raw of ref.slice(2).split('/')) {
      const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      target = isObj(target) ? target[key] : undefined;
    }
    if (typeof target !== 'boolean' && !isObj(target)) return schema;
    const { $ref: _ref, ...rest } = schema;
    const merged = Object.keys(rest).length === 0 ? target : { ...(target as Obj), ...rest };
    return this.resolve(merged, root, seen + 1);
  }

  private report(path: readonly string[], message: string, severity: 'breaking' | 'warning' = 'breaking'): void {
    this.issues.push({ pointer: pointerOf(path), message, severity });
  }

  /** Whether `next` accepts every value `previous` accepts, without recording issues. */
  private quietlyAccepts(previous: JsonSchema, next: JsonSchema, path: readonly string[]): boolean {
    const probe = new Checker(this.oldRoot, this.newRoot);
    probe.check(previous, next, path);
    return probe.issues.every((i) => i.severity !== 'breaking');
  }

  check(previousIn: JsonSchema, nextIn: JsonSchema, path: readonly string[]): void {
    const previous = this.resolve(previousIn, this.oldRoot);
    const next = this.resolve(nextIn, this.newRoot);
    if (acceptsAll(next) || previous === false) return;
    if (next === false) return this.report(path, 'the new version accepts nothing here');
    if (previous === true || acceptsAll(previous)) {
      return this.report(path, 'the previous version accepted any value here; the new one constrains it');
    }
    if (!isObj(previous) || !isObj(next)) return;

    // Unions: every branch of the previous version must fit the new schema, and a value fits a new union when it
    // fits one of its branches.
    const oldBranches = (previous['anyOf'] ?? previous['oneOf']) as JsonSchema[] | undefined;
    if (Array.isArray(oldBranches)) {
      const { anyOf: _a, oneOf: _o, ...shared } = previous;
      oldBranches.forEach((branch) => this.check(isObj(branch) ? { ...shared, ...branch } : branch, next, path));
      return;
    }
    const newBranches = (next['anyOf'] ?? next['oneOf']) as JsonSchema[] | undefined;
    if (Array.isArray(newBranches)) {
      const { anyOf: _a, oneOf: _o, ...shared } = next;
      const fits = newBranches.some((branch) =>
        this.quietlyAccepts(previous, isObj(branch) ? { ...shared, ...branch } : branch, path),
      );
      if (!fits) this.report(path, 'no branch of the new version accepts what the previous version accepted');
      return;
    }

    this.checkTypes(previous, next, path);
    this.checkValues(previous, next, path);
    this.checkBounds(previous, next, path);
    this.checkObject(previous, next, path);
    this.checkArray(previous, next, path);

    for (const keyword of Object.keys(next)) {
      if (ANNOTATIONS.has(keyword) || HANDLED.has(keyword)) continue;
      if (json(previous[keyword]) !== json(next[keyword])) {
        this.report(path, `keyword "${keyword}" was added or changed; cannot prove it only relaxes the schema`);
      }
    }
  }

  private checkTypes(previous: Obj, next: Obj, path: readonly string[]): void {
    const newTypes = typesOf(next);
    if (newTypes === undefined) return;
    const oldTypes = typesOf(previous);
    if (oldTypes === undefined) {
      if (previous['enum'] === undefined && previous['const'] === undefined)
        this.report(
          path,
          `the previous version accepted any type here; the new one requires ${[...newTypes].join(' or ')}`,
        );
      return;
    }
    for (const type of oldTypes) {
      const accepted = newTypes.has(type) || (type === 'integer' && newTypes.has('number'));
      if (!accepted) this.report(path, `type ${type} is no longer accepted (now ${[...newTypes].join(' or ')})`);
    }
  }

  private checkValues(previous: Obj, next: Obj, path: readonly string[]): void {
    const allowed = next['const'] !== undefined ? [next['const']] : (next['enum'] as unknown[] | undefined);
    if (!Array.isArray(allowed)) return;
    const before = previous['const'] !== undefined ? [previous['const']] : (previous['enum'] as unknown[] | undefined);
    if (!Array.isArray(before)) {
      this.report(path, 'the new version restricts the value to an enumeration the previous version did not have');
      return;
    }
    const now = new Set(allowed.map(json));
    const dropped = before.filter((v) => !now.has(json(v)));
    if (dropped.length > 0) this.report(path, `values no longer accepted: ${dropped.map(json).join(', ')}`);
  }

  private checkBounds(previous: Obj, next: Obj, path: readonly string[]): void {
    const lower = (k: string) =>
      typeof next[k] === 'number' && !(typeof previous[k] === 'number' && previous[k] >= next[k]);
    const upper = (k: string) =>
      typeof next[k] === 'number' && !(typeof previous[k] === 'number' && previous[k] <= next[k]);
    for (const k of ['minimum', 'exclusiveMinimum', 'minLength', 'minItems']) {
      if (lower(k)) this.report(path, `${k} was raised or added (${json(previous[k])} → ${json(next[k])})`);
    }
    for (const k of ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems']) {
      if (upper(k)) this.report(path, `${k} was lowered or added (${json(previous[k])} → ${json(next[k])})`);
    }
    const step = next['multipleOf'];
    if (typeof step === 'number') {
      const old = previous['multipleOf'];
      if (typeof old !== 'number' || Math.abs(old / step - Math.round(old / step)) > 1e-9)
        this.report(path, `multipleOf ${step} does not divide the previous ${json(old)}`);
    }
    for (const k of ['pattern', 'format']) {
      if (next[k] !== undefined && json(next[k]) !== json(previous[k]))
        this.report(path, `${k} was added or changed (${json(previous[k])} → ${json(next[k])})`);
    }
  }

  private checkObject(previous: Obj, next: Obj, path: readonly string[]): void {
    const oldProps = (isObj(previous['properties']) ? previous['properties'] : {}) as Record<string, JsonSchema>;
    const newProps = (isObj(next['properties']) ? next['properties'] : {}) as Record<string, JsonSchema>;
    const oldRequired = new Set(Array.isArray(previous['required']) ? (previous['required'] as string[]) : []);
    const newRequired = Array.isArray(next['required']) ? (next['required'] as string[]) : [];
    for (const name of newRequired) {
      if (!oldRequired.has(name)) this.report([...path, name], `"${name}" became required`);
    }
    const oldExtra = previous['additionalProperties'] as JsonSchema | undefined;
    const newExtra = next['additionalProperties'] as JsonSchema | undefined;
    const oldOpen = oldExtra === undefined ? true : oldExtra;
    const newOpen = newExtra === undefined ? true : newExtra;
    for (const [name, schema] of Object.entries(newProps)) {
      if (Object.hasOwn(oldProps, name)) {
        this.check(oldProps[name]!, schema, [...path, name]);
      } else if (oldOpen !== false && !acceptsAll(schema)) {
        if (oldRequired.has(name) || this.quietlyAccepts(oldOpen, schema, [...path, name])) continue;
        this.report(
          [...path, name],
          `"${name}" is new; the previous version let it through undescribed, so old payloads that carried it with another shape would be refused`,
          'warning',
        );
      }
    }
    for (const [name, schema] of Object.entries(oldProps)) {
      if (Object.hasOwn(newProps, name)) continue;
      if (newOpen === false)
        this.report([...path, name], `"${name}" was removed and the new version refuses unknown properties`);
      else this.check(schema, newOpen, [...path, name]);
    }
    if (newOpen !== true && (next['type'] === 'object' || next['properties'] !== undefined)) {
      if (oldOpen === true || acceptsAll(oldOpen)) {
        if (!acceptsAll(newOpen))
          this.report(path, 'the new version restricts properties the previous version allowed');
      } else if (oldOpen !== false) {
        this.check(oldOpen, newOpen, [...path, '*']);
      }
    }
  }

  private checkArray(previous: Obj, next: Obj, path: readonly string[]): void {
    const items = next['items'] as JsonSchema | undefined;
    if (items === undefined) return;
    const before = previous['items'] as JsonSchema | undefined;
    this.check(before ?? true, items, [...path, '*']);
  }
}

/**
 * Compares two versions of a payload schema and lists what would break producers and stored events when `next`
 * replaces `previous`. The new version is backward compatible when no issue is `breaking`.
 *
 * @example
 * const issues = checkBackwardCompatibility(z.toJSONSchema(v1), z.toJSONSchema(v2));
 * if (issues.some((i) => i.severity === 'breaking')) throw new Error('v2 breaks v1 payloads');
 */
export function checkBackwardCompatibility(previous: JsonSchema, next: JsonSchema): CompatibilityIssue[] {
  const checker = new Checker(previous, next);
  checker.check(previous, next, []);
  return checker.issues;
}

/** Whether a list of issues allows the new version. */
export function isBackwardCompatible(issues: readonly CompatibilityIssue[]): boolean {
  return issues.every((issue) => issue.severity !== 'breaking');
}
