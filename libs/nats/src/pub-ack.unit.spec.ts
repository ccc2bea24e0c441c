import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePubAck } from './pub-ack.ts';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const viaJson = (text: string): unknown => JSON.parse(text) as unknown;

describe('parsePubAck', () => {
  it('reads what nats-server 2.9 sends, new and duplicate', () => {
    expect(parsePubAck(bytes('{"stream":"EVENTS_AB12", "seq":1}'))).toEqual({ stream: 'EVENTS_AB12', seq: 1 });
    expect(parsePubAck(bytes('{"stream":"EVENTS_AB12", "seq":2,"duplicate": true}'))).toEqual({ stream: 'EVENTS_AB12', seq: 2, duplicate: true });
  });

  it('hands every other shape to JSON.parse', () => {
    for (const text of [
      '{"stream":"S","domain":"hub","seq":3}',
      '{"stream":"S","seq":3,"domain":"hub"}',
      '{"stream":"S","seq":3,"duplicate":false}',
      '{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"S","seq":0}',
      '{"stream":"a\\"b","seq":4}',
      '{"stream":"S","seq":1.5}',
      '{"stream":"S","seq":1e3}',
      '{"stream":"S","seq":9007199254740993}',
      '{"stream":"S","seq":-1}',
      '{"seq":5,"stream":"S"}',
      '{"stream":"Ströme","seq":6}',
    ]) {
      expect(parsePubAck(bytes(text)), text).toEqual(viaJson(text));
    }
  });

  it('refuses what is not JSON as JSON.parse does', () => {
    for (const text of ['', '{"stream":"S","seq":01}', '{"stream":"S", "seq":7', '{"stream":"S","seq":7}}', '{"stream":"S\u0001","seq":1}']) {
      expect(() => parsePubAck(bytes(text)), JSON.stringify(text)).toThrow(SyntaxError);
    }
  });

  it('equals JSON.parse for any spacing, name, sequence and duplicate flag', () => {
    const space = fc.constantFrom('', ' ', '  ', '\n', '\t ');
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom(undefined, true, false),
        fc.tuple(space, space, space, space, space, space),
        (name, seq, duplicate, [a, b, c, d, e, f]) => {
          const dup = duplicate === undefined ? '' : `${c},${d}"duplicate":${e}${String(duplicate)}`;
          const text = `{"stream":${JSON.stringify(name)}${a},${b}"seq":${f}${seq}${dup}${a}}`;
          expect(parsePubAck(bytes(text))).toEqual(viaJson(text));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('reads each stream name afresh when acks name different streams', () => {
    expect(parsePubAck(bytes('{"stream":"AAAA", "seq":1}')).stream).toBe('AAAA');
    expect(parsePubAck(bytes('{"stream":"BBBB", "seq":2}')).stream).toBe('BBBB');
    expect(parsePubAck(bytes('{"stream":"AAAA", "seq":3}')).stream).toBe('AAAA');
  });
});
