import { describe, expect, it } from 'vitest';
import { TidewayError } from '@tideway/events';
import { decodeEventCursor, encodeEventCursor, timeKey } from './cursor.ts';
import { matchesPredicate, parsePredicates } from './predicates.ts';

describe('payload predicates', () => {
  it('parses operators, repeated parameters, numbers and in-lists', () => {
    expect(parsePredicates({ 'data.sensor_id': 'eq.42', 'data.value': ['gt.100', 'lte.200'], type: 'ignored' })).toEqual([
      { field: 'data.sensor_id', path: ['sensor_id'], op: 'eq', values: ['42'], numbers: [42] },
      { field: 'data.value', path: ['value'], op: 'gt', values: ['100'], numbers: [100] },
      { field: 'data.value', path: ['value'], op: 'lte', values: ['200'], numbers: [200] },
    ]);
    expect(parsePredicates({ 'data.a.b.0': 'in.(x,"y,z",3)' })[0]).toMatchObject({ path: ['a', 'b', '0'], values: ['x', 'y,z', '3'] });
    expect(parsePredicates({ 'data.name': 'eq.1e3' })[0]!.numbers).toEqual([1000]);
    expect(parsePredicates({ 'data.name': 'eq.0x10' })[0]!.numbers).toBeUndefined();
  });

  it('rejects bad fields, operators and lists, naming each', () => {
    for (const [field, value] of [
      ['data.', 'eq.1'],
      ['data.a-b', 'eq.1'],
      ["data.a'--", 'eq.1'],
      ['data.a', 'between.1'],
      ['data.a', 'eq'],
      ['data.a', 'in.1,2'],
      ['data.a', 'in.()'.replace('()', '("x)')],
      ['data.a.b.c.d.e.f.g.h.i', 'eq.1'],
    ] as const) {
      expect(() => parsePredicates({ [field]: value }), `${field}=${value}`).toThrow(TidewayError);
    }
  });

  it('evaluates like SQL: text or numeric equality, typed comparisons, LIKE', () => {
    const [eq] = parsePredicates({ 'data.v': 'eq.42' });
    expect(matchesPredicate({ v: 42 }, eq!)).toBe(true);
    expect(matchesPredicate({ v: '42' }, eq!)).toBe(true);
    expect(matchesPredicate({ v: 42.0 }, eq!)).toBe(true);
    expect(matchesPredicate({}, eq!)).toBe(false);
    const [gt] = parsePredicates({ 'data.v': 'gt.9' });
    expect(matchesPredicate({ v: 10 }, gt!)).toBe(true);
    expect(matchesPredicate({ v: '10' }, gt!)).toBe(false); // numeric operand: only numbers compare
    const [neq] = parsePredicates({ 'data.v': 'neq.1' });
    expect(matchesPredicate({ v: 2 }, neq!)).toBe(true);
    expect(matchesPredicate({ v: null }, neq!)).toBe(false);
    const [like] = parsePredicates({ 'data.n': 'like.sen*_1' });
    expect(matchesPredicate({ n: 'sensor_1' }, like!)).toBe(true);
    expect(matchesPredicate({ n: 'sensorX1' }, like!)).toBe(true);
    expect(matchesPredicate({ n: 'other' }, like!)).toBe(false);
  });
});

describe('event cursors', () => {
  it('round-trip, and refuse anything this API did not make', () => {
    const c = { t: '2026-01-01T00:00:00.123456Z', s: 7, d: 'prev' as const, o: 'asc' as const };
    expect(decodeEventCursor(encodeEventCursor(c))).toEqual(c);
    for (const bad of ['', 'garbage', Buffer.from('{"t":"x","s":1,"d":"next","o":"asc"}').toString('base64url'), Buffer.from('{"t":"2026-01-01T00:00:00.000000Z","s":-1,"d":"next","o":"asc"}').toString('base64url')]) {
      expect(() => decodeEventCursor(bad)).toThrow(TidewayError);
    }
  });

  it('normalises times to microsecond UTC keys', () => {
    expect(timeKey('2026-01-01T01:00:00+01:00')).toBe('2026-01-01T00:00:00.000000Z');
    expect(timeKey('2026-01-01T00:00:00.1234567Z')).toBe('2026-01-01T00:00:00.123456Z');
  });
});
