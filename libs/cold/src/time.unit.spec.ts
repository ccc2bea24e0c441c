import { describe, expect, it } from 'vitest';
import { addDays, microsToIso, parseTimeMicros, utcDate } from './time.ts';

describe('event times', () => {
  it('parses RFC 3339 with any fraction and offset into epoch microseconds', () => {
    expect(parseTimeMicros('2024-03-01T10:00:00Z')).toBe(1709287200000000n);
    expect(parseTimeMicros('2024-03-01T10:00:00.123456Z')).toBe(1709287200123456n);
    expect(parseTimeMicros('2024-03-01T12:00:00.5+02:00')).toBe(1709287200500000n);
    expect(parseTimeMicros('2024-03-01T05:30:00-04:30')).toBe(1709287200000000n);
    expect(parseTimeMicros('2024-03-01 10:00:00+00')).toBe(1709287200000000n);
  });

  it('rounds sub-microsecond digits half up, as PostgreSQL does', () => {
    expect(parseTimeMicros('2024-03-01T10:00:00.1234564Z')).toBe(1709287200123456n);
    expect(parseTimeMicros('2024-03-01T10:00:00.1234565Z')).toBe(1709287200123457n);
    expect(parseTimeMicros('2024-03-01T23:59:59.9999996Z')).toBe(parseTimeMicros('2024-03-02T00:00:00Z'));
  });

  it('rejects what is not a timestamp', () => {
    expect(() => parseTimeMicros('yesterday')).toThrow(/RFC 3339/);
    expect(() => parseTimeMicros('2024-03-01')).toThrow(/RFC 3339/);
  });

  it('prints microseconds and UTC dates, before the epoch too', () => {
    expect(microsToIso(1709287200123456n)).toBe('2024-03-01T10:00:00.123456Z');
    expect(microsToIso(-1n)).toBe('1969-12-31T23:59:59.999999Z');
    expect(utcDate(parseTimeMicros('2024-03-01T23:59:59.999999Z'))).toBe('2024-03-01');
    expect(utcDate(parseTimeMicros('2024-03-02T01:00:00+02:00'))).toBe('2024-03-01');
    expect(utcDate(-1n)).toBe('1969-12-31');
    expect(addDays('2024-02-28', 2)).toBe('2024-03-01');
  });
});
