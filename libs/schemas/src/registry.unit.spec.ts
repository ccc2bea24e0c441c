import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import {
  IncompatibleSchemaError,
  SchemaRegistry,
  builtInSchemaRegistry,
  checkBackwardCompatibility,
  dataSchemaUri,
  isBackwardCompatible,
  toJsonSchema,
} from './index.ts';

const V1 = z.object({ id: z.string().min(1), amount: z.number().min(0), kind: z.enum(['a', 'b']) });

function breaking(next: z.ZodType, previous: z.ZodType = V1): string[] {
  return checkBackwardCompatibility(toJsonSchema(previous), toJsonSchema(next))
    .filter((i) => i.severity === 'breaking')
    .map((i) => `${i.pointer} ${i.message}`);
}

describe('backward compatibility', () => {
  it('accepts versions that only relax: optional fields, wider types, more enum values, looser bounds', () => {
    expect(breaking(V1.extend({ note: z.string().optional() }))).toEqual([]);
    expect(breaking(V1.extend({ amount: z.number() }))).toEqual([]);
    expect(breaking(V1.extend({ kind: z.enum(['a', 'b', 'c']) }))).toEqual([]);
    expect(breaking(V1.extend({ amount: z.number().or(z.string()) }))).toEqual([]);
    expect(breaking(V1.extend({ id: z.string() }))).toEqual([]);
    expect(breaking(V1.extend({ kind: z.string() }))).toEqual([]);
  });

  it('refuses versions that would quarantine old payloads, naming the field', () => {
    expect(breaking(V1.extend({ note: z.string() }))).toEqual([expect.stringMatching(/^\/note .*required/)]);
    expect(breaking(V1.extend({ amount: z.string() }))).toEqual([expect.stringMatching(/^\/amount type number/)]);
    expect(breaking(V1.extend({ kind: z.enum(['a']) }))).toEqual([expect.stringMatching(/^\/kind .*"b"/)]);
    expect(breaking(V1.extend({ amount: z.number().min(10) }))).toEqual([expect.stringMatching(/^\/amount minimum/)]);
    expect(breaking(V1.extend({ id: z.string().regex(/^x/) }))).toEqual([expect.stringMatching(/^\/id pattern/)]);
    expect(breaking(V1.extend({ id: z.string().max(3) }))).toEqual([expect.stringMatching(/^\/id maxLength/)]);
    expect(breaking(V1.strict().omit({ kind: true }), V1.strict())).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/kind .*removed/)]),
    );
  });

  it('reports a property added to an open object as a warning only', () => {
    const open = V1.passthrough();
    const issues = checkBackwardCompatibility(
      toJsonSchema(open),
      toJsonSchema(open.extend({ extra: z.number().optional() })),
    );
    expect(issues.map((i) => i.severity)).toEqual(['warning']);
    expect(isBackwardCompatible(issues)).toBe(true);
  });
});

describe('SchemaRegistry', () => {
  it('numbers versions, validates against the latest or the pinned one, and refuses a breaking version', () => {
    const registry = new SchemaRegistry()
      .register('shop.sale', V1)
      .register('shop.sale', V1.extend({ kind: z.enum(['a', 'b', 'c']) }));
    expect(registry.latest('shop.sale')?.version).toBe(2);
    expect(registry.validate('shop.sale', { id: 'x', amount: 1, kind: 'c' })).toMatchObject({ ok: true, version: 2 });
    const pinned = registry.validate(
      'shop.sale',
      { id: 'x', amount: 1, kind: 'c' },
      { dataschema: dataSchemaUri('shop.sale', 1), index: 4 },
    );
    expect(pinned).toMatchObject({ ok: false, version: 1, issues: [{ index: 4, pointer: '/4/data/kind' }] });
    expect(registry.validate('shop.sale', {}, { dataschema: 'https://gw/v1/schemas/shop.sale/9' })).toMatchObject({
      ok: false,
      version: 9,
    });
    expect(registry.validate('unregistered.type', 'anything')).toEqual({ ok: true, data: 'anything' });
    expect(() => registry.register('shop.sale', V1.extend({ amount: z.string() }))).toThrow(IncompatibleSchemaError);
    expect(registry.latest('shop.sale')?.version).toBe(2);
  });

  it('checks a JSON Schema candidate against the latest version without registering it', () => {
    const registry = new SchemaRegistry().register('shop.sale', V1);
    expect(registry.checkCandidate('shop.sale', toJsonSchema(V1.extend({ x: z.string().optional() }))).compatible).toBe(
      true,
    );
    const bad = registry.checkCandidate('shop.sale', { type: 'object', required: ['id', 'amount', 'kind', 'x'] });
    expect(bad).toMatchObject({ compatible: false, against: 1 });
  });

  it('ships backward-compatible built-in versions with JSON Schema documents', () => {
    const registry = builtInSchemaRegistry();
    const described = registry.describe();
    expect(described.map((t) => t.type)).toEqual(['commerce.order.placed', 'iot.sensor.reading']);
    const sensor = registry.describeType('iot.sensor.reading')!;
    expect(sensor.latest).toBe(2);
    expect(sensor.versions[1]!.schema).toMatchObject({ type: 'object', required: ['device_id', 'reading_value'] });
    expect(registry.validate('iot.sensor.reading', { device_id: 'd', reading_value: 'hot' })).toMatchObject({
      ok: false,
      version: 2,
    });
  });
});
