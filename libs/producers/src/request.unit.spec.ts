import { describe, expect, it } from 'vitest';
import { jsonTooDeep, MAX_JSON_DEPTH, parseJsonText } from './request.ts';

/** `levels` containers nested in one another, alternating arrays and objects, around `leaf`. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

describe('jsonTooDeep', () => {
  it(`accepts ${MAX_JSON_DEPTH} nested containers and refuses one more`, () => {
    expect(jsonTooDeep(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(jsonTooDeep(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(jsonTooDeep(nested(3), 3)).toBe(false);
    expect(jsonTooDeep(nested(4), 3)).toBe(true);
  });

  it('finds the deep branch among wide and shallow ones, and ignores scalars', () => {
    const wide = { a: 1, b: 'x', c: null, d: [1, 2, 3], e: { f: { g: true } } };
    expect(jsonTooDeep(wide, 3)).toBe(false);
    // the object, z's array and three nested containers: five levels
    expect(jsonTooDeep({ ...wide, z: [0, nested(3)] }, 5)).toBe(false);
    expect(jsonTooDeep({ ...wide, z: [0, nested(3)] }, 4)).toBe(true);
    expect(jsonTooDeep('text', 0)).toBe(false);
    expect(jsonTooDeep(null, 0)).toBe(false);
    expect(jsonTooDeep({}, 0)).toBe(true);
  });

  it('does not overflow the stack on a body nested far beyond the limit', () => {
    const text = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(() => parseJsonText(text)).toThrow(`nested deeper than ${MAX_JSON_DEPTH} levels`);
  });
});
