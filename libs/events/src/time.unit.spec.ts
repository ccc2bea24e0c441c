import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTime } from './time.ts';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

describe('parseTime', () => {
  it('equals Date.parse on toISOString() output across the whole four-digit year range', () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_167_219_200_000, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (ms) => {
        const text = new Date(ms).toISOString();
        expect(parseTime(text)).toBe(Date.parse(text));
      }),
      { numRuns: 20_000 },
    );
    for (const text of ['0000-01-01T00:00:00.000Z', '0000-03-01T00:00:00.000Z', '1969-12-31T23:59:59.999Z', '1970-01-01T00:00:00.000Z', '2000-02-28T12:00:00.000Z', '2024-02-29T00:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
      expect(parseTime(text), text).toBe(Date.parse(text));
    }
  });

  it('equals Date.parse on canonical-looking strings with any field values, valid or not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 0, max: 999 }),
        (y, mo, d, h, mi, s, ms) => {
          const text = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(ms, 3)}Z`;
          expect(Object.is(parseTime(text), Date.parse(text)), text).toBe(true);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('equals Date.parse on other forms and on garbage', () => {
    for (const text of ['2026-01-05T08:00:00Z', '2026-01-05T09:00:00+01:00', '2026-01-05T08:00:00.1234Z', '2026-01-05', '2026-02-30T00:00:00.000Z', '2026-01-05T24:00:00.000Z', '2026-01-05T08:00:60.000Z', '2026-01-05t08:00:00.000Z', '2026-01-05T08:00:00.00aZ', '+02026-01-05T08:00:00.000Z', '', 'x'.repeat(24)]) {
      expect(Object.is(parseTime(text), Date.parse(text)), text).toBe(true);
    }
    fc.assert(
      fc.property(fc.string({ minLength: 24, maxLength: 24 }), (text) => {
        expect(Object.is(parseTime(text), Date.parse(text))).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });
});
