/**
 * Reading JetStream's PubAck replies. The server writes them in one shape — `{"stream":"<name>", "seq":<n>}`,
 * with `,"duplicate": true` for a message it already held (nats-server 2.9's spacing; other spacing is read too) —
 * and every published event costs one, so the common shape is read straight from the bytes. Anything else (a
 * domain, an error, an escaped name, other fields) is handed to `JSON.parse`, which gives the same answer for the
 * common shape too (a unit test holds the two equal).
 */

/** A PubAck as the server sends it (or its error reply). */
export interface RawPubAck {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  domain?: string;
  error?: { code?: number; err_code?: number; description?: string };
}

const HEAD = Buffer.from('{"stream":"');
const SEQ = Buffer.from('"seq":');
const DUPLICATE = Buffer.from('"duplicate":');
const TRUE = Buffer.from('true');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const CLOSE = 0x7d;
const decoder = new TextDecoder();

/** The last stream name read, with its bytes: acks name the same stream over and over. */
let lastName: { bytes: Uint8Array; name: string } | undefined;

/** Whether `expected` is at `at`. */
function matchAt(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/** The position of the first byte at or after `at` that is not JSON whitespace. */
function skipSpace(bytes: Uint8Array, at: number): number {
  while (at < bytes.length && (bytes[at] === 0x20 || bytes[at] === 0x0a || bytes[at] === 0x0d || bytes[at] === 0x09)) at++;
  return at;
}

function streamName(bytes: Uint8Array, start: number, end: number): string {
  const known = lastName;
  if (known !== undefined && known.bytes.length === end - start) {
    let same = true;
    for (let i = 0; i < known.bytes.length; i++) {
      if (known.bytes[i] !== bytes[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return known.name;
  }
  const copy = bytes.slice(start, end);
  const name = decoder.decode(copy);
  lastName = { bytes: copy, name };
  return name;
}

/** The common shape read from the bytes, or `undefined` for any other. */
function readCommonShape(bytes: Uint8Array): RawPubAck | undefined {
  if (!matchAt(bytes, 0, HEAD)) return undefined;
  let i = HEAD.length;
  const nameStart = i;
  while (i < bytes.length && bytes[i] !== QUOTE) {
    if (bytes[i] === BACKSLASH || bytes[i]! < 0x20) return undefined;
    i++;
  }
  const nameEnd = i;
  if (nameEnd === nameStart || i >= bytes.length) return undefined;
  i = skipSpace(bytes, i + 1);
  if (bytes[i] !== COMMA) return undefined;
  i = skipSpace(bytes, i + 1);
  if (!matchAt(bytes, i, SEQ)) return undefined;
  i = skipSpace(bytes, i + SEQ.length);
  const digitsStart = i;
  let seq = 0;
  while (i < bytes.length && bytes[i]! >= 0x30 && bytes[i]! <= 0x39) seq = seq * 10 + (bytes[i++]! - 0x30);
  const digits = i - digitsStart;
  // A number JSON would read differently (none, a leading zero, a fraction, beyond 2^53) goes to JSON.parse.
  if (digits === 0 || digits > 15 || (digits > 1 && bytes[digitsStart] === 0x30)) return undefined;
  i = skipSpace(bytes, i);
  let duplicate = false;
  if (bytes[i] === COMMA) {
    i = skipSpace(bytes, i + 1);
    if (!matchAt(bytes, i, DUPLICATE)) return undefined;
    i = skipSpace(bytes, i + DUPLICATE.length);
    if (!matchAt(bytes, i, TRUE)) return undefined;
    duplicate = true;
    i = skipSpace(bytes, i + TRUE.length);
  }
  if (bytes[i] !== CLOSE || skipSpace(bytes, i + 1) !== bytes.length) return undefined;
  const ack: RawPubAck = { stream: streamName(bytes, nameStart, nameEnd), seq };
  if (duplicate) ack.duplicate = true;
  return ack;
}

/** A PubAck reply's fields. @throws SyntaxError when the bytes are not JSON. */
export function parsePubAck(bytes: Uint8Array): RawPubAck {
  return readCommonShape(bytes) ?? (JSON.parse(decoder.decode(bytes)) as RawPubAck);
}
