/**
 * Event times as the archive keeps them: microseconds since the epoch (UTC), the precision of PostgreSQL
 * `timestamptz` and of Parquet `TIMESTAMP(MICROS)`. The original RFC 3339 text stays in the row's attributes.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/**
 * Parses an RFC 3339 timestamp into epoch microseconds, rounding sub-microsecond digits half up (as
 * PostgreSQL rounds its input). Throws on anything else.
 */
export function parseTimeMicros(text: string): bigint {
  const m = RFC3339.exec(text);
  if (!m) throw new Error(`not an RFC 3339 timestamp: ${text}`);
  const [, y, mo, d, h, mi, s, frac = '', , sign, oh, om] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) throw new Error(`not an RFC 3339 timestamp: ${text}`);
  let micros = BigInt(ms) * 1000n + BigInt((frac + '000000').slice(0, 6));
  if (frac.length > 6 && Number(frac[6]) >= 5) micros += 1n;
  if (sign !== undefined) {
    const offset = BigInt(Number(oh) * 60 + Number(om ?? 0)) * 60_000_000n;
    micros += sign === '+' ? -offset : offset;
  }
  return micros;
}

/** Epoch microseconds from a `Date` or an RFC 3339 string. */
export function toMicros(value: Date | string): bigint {
  return typeof value === 'string' ? parseTimeMicros(value) : BigInt(value.getTime()) * 1000n;
}

const DAY_MICROS = 86_400_000_000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` for epoch microseconds. */
export function microsToIso(micros: bigint): string {
  const ms = floorDiv(micros, 1000n);
  const sub = micros - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString(); // ...SS.mmmZ
  return `${iso.slice(0, -1)}${sub.toString().padStart(3, '0')}Z`;
}

/** The UTC date (`YYYY-MM-DD`) of epoch microseconds. */
export function utcDate(micros: bigint): string {
  const day = floorDiv(micros, DAY_MICROS);
  return new Date(Number(day) * 86_400_000).toISOString().slice(0, 10);
}

/** `date` plus `days` days (`YYYY-MM-DD`). */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}
