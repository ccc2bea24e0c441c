import { describe, expect, it } from 'vitest';
import { parseNdjson, parseNdjsonEvents, type NdjsonLine } from './ndjson.ts';

const encoder = new TextEncoder();

/** Splits bytes into chunks of a fixed, awkward size, so lines and UTF-8 sequences straddle chunk borders. */
async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.slice(offset, offset + size);
}

/** Collects the results; the raw `text` of each line is dropped (it is checked on its own below). */
async function collect<T>(lines: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const line of lines) {
    if (typeof line === 'object' && line !== null && 'text' in line) {
      const { text: _text, ...rest } = line as T & { text?: string };
      out.push(rest as T);
    } else out.push(line);
  }
  return out;
}

describe('parseNdjson', () => {
  it('parses 100,000 generated lines in awkward chunks, counting values, blanks and errors', async () => {
    const lines: string[] = [];
    const expected = { values: 0, waves: 0, sum: 0, errorLines: [] as number[] };
    for (let n = 1; n <= 100_000; n++) {
      if (n % 1000 === 0) {
        lines.push(''); // blank: skipped, but numbered
      } else if (n % 997 === 0) {
        lines.push('{"broken":');
        expected.errorLines.push(n);
      } else {
        const label = n % 3 === 0 ? 'café 🌊' : 'plain';
        lines.push(JSON.stringify({ n, label }) + (n % 2 === 0 ? '\r' : ''));
        expected.values += 1;
        expected.sum += n;
        if (n % 3 === 0) expected.waves += 1;
      }
    }
    const bytes = encoder.encode(lines.join('\n') + '\n');

    const actual = { values: 0, waves: 0, sum: 0, errorLines: [] as number[] };
    let misnumbered = 0;
    for await (const { line, value, error } of parseNdjson(chunked(bytes, 4093))) {
      if (error !== undefined) {
        actual.errorLines.push(line);
        continue;
      }
      const record = value as { n: number; label: string };
      if (record.n !== line) misnumbered += 1;
      if (record.label === 'café 🌊') actual.waves += 1;
      actual.values += 1;
      actual.sum += record.n;
    }
    expect(actual).toEqual(expected);
    expect(expected.values).toBe(100_000 - 100 - 100); // 100 blanks, 100 broken lines (997 … 99,700)
    expect(misnumbered).toBe(0);
  });

  it('reassembles multi-byte characters split across one-byte chunks', async () => {
    const bytes = encoder.encode('{"s":"größe 🌊 日本"}\r\n{"s":"é"}');
    expect(await collect(parseNdjson(chunked(bytes, 1)))).toEqual([
      { line: 1, value: { s: 'größe 🌊 日本' } },
      { line: 2, value: { s: 'é' } },
    ]);
  });

  it('reads a fetch ReadableStream, ignoring a BOM and keeping line numbers over blank lines', async () => {
    const body = new Response('\uFEFF{"a":1}\n\n   \n[2]\n').body!;
    expect(await collect(parseNdjson(body))).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 4, value: [2] },
    ]);
  });

  it('reports a line over the limit without holding it, then reads on', async () => {
    const long = JSON.stringify({ pad: 'x'.repeat(5000) });
    const bytes = encoder.encode(`{"ok":1}\n${long}\n{"ok":2}\r\n${'y'.repeat(100)}`);
    const results = await collect(parseNdjson(chunked(bytes, 64), { maxLineBytes: 100 }));
    expect(results).toEqual<NdjsonLine[]>([
      { line: 1, value: { ok: 1 } },
      { line: 2, error: 'line is longer than 100 bytes' },
      { line: 3, value: { ok: 2 } },
      { line: 4, error: expect.stringMatching(/^invalid JSON/) as string },
    ]);
  });

  it('applies the limit exactly, not counting a CRLF terminator', async () => {
    const exact = `"${'z'.repeat(8)}"`; // 10 bytes
    const results = await collect(
      parseNdjson(chunked(encoder.encode(`${exact}\r\n${exact}z\n`), 3), { maxLineBytes: 10 }),
    );
    expect(results).toEqual([
      { line: 1, value: 'z'.repeat(8) },
      { line: 2, error: 'line is longer than 10 bytes' },
    ]);
  });

  it('reports invalid UTF-8 per line', async () => {
    const bytes = new Uint8Array([...encoder.encode('"a"\n"'), 0xff, ...encoder.encode('"\n"b"')]);
    expect(await collect(parseNdjson(chunked(bytes, 2)))).toEqual([
      { line: 1, value: 'a' },
      { line: 2, error: 'line is not valid UTF-8' },
      { line: 3, value: 'b' },
    ]);
  });

  it('cancels the stream when the reader stops early', async () => {
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(encoder.encode('{"x":1}\n')),
      cancel: () => {
        cancelled = true;
      },
    });
    for await (const line of parseNdjson(stream)) {
      if (line.line === 3) break;
    }
    expect(cancelled).toBe(true);
  });
});

describe('parseNdjson raw text', () => {
  it('keeps each line as sent, for quarantining it', async () => {
    const lines: NdjsonLine[] = [];
    for await (const line of parseNdjson(chunked(encoder.encode('{"a": 1}\r\n{oops\n'), 3))) lines.push(line);
    expect(lines.map((l) => l.text)).toEqual(['{"a": 1}', '{oops']);
  });
});

describe('parseNdjsonEvents', () => {
  it('validates each line as an event input, pointing issues at the line', async () => {
    const good = JSON.stringify({ specversion: '1.0', source: 'files', type: 'files.row' });
    const body = new Response([good, '{"specversion":"1.0","source":"files"}', 'nope', good].join('\n')).body!;
    const results = await collect(parseNdjsonEvents(body));
    expect(results.map((r) => ('event' in r ? [r.line, 'ok'] : [r.line, r.issues[0]?.pointer]))).toEqual([
      [1, 'ok'],
      [2, '/2/type'],
      [3, '/3'],
      [4, 'ok'],
    ]);
  });
});
