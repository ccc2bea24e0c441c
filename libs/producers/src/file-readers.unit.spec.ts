import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import {
  formatOfFileName,
  readCsvRows,
  readJsonRows,
  readNdjsonRows,
  readParquetRows,
  type AsyncBuffer,
  type FileRow,
} from './file-readers.ts';
import { rowToItem } from './file-rows.ts';

/** Splits a text into chunks of `size` bytes, as a file stream would deliver it. */
async function* chunks(text: string, size = 7): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function all(rows: AsyncIterable<FileRow>): Promise<FileRow[]> {
  const out: FileRow[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

describe('file readers', () => {
  it('reads CSV with quoted cells, CRLF and a BOM, keyed by the header', async () => {
    const csv = '\uFEFForder_id,note,amount\r\no-1,"a, ""quoted"" note",30\r\no-2,,12.5\r\n';
    expect(await all(readCsvRows(chunks(csv)))).toEqual([
      { row: 1, values: { order_id: 'o-1', note: 'a, "quoted" note', amount: '30' } },
      { row: 2, values: { order_id: 'o-2', note: '', amount: '12.5' } },
    ]);
  });

  it('reads a JSON array element by element, across chunk boundaries and nested brackets', async () => {
    const json = ' [ {"a": "x,]}", "b": [1, {"c": 2}]}, {"a": "y\\"z"} , 3 ]';
    expect(await all(readJsonRows(chunks(json, 3)))).toEqual([
      { row: 1, values: { a: 'x,]}', b: [1, { c: 2 }] } },
      { row: 2, values: { a: 'y"z' } },
      { row: 3, error: 'element 3 is not a JSON object', text: '3' },
    ]);
  });

  it('reads NDJSON, and a .json file that is NDJSON, reporting bad lines', async () => {
    const ndjson = '{"a":1}\nnot json\n{"a":2}\n';
    const rows = await all(readNdjsonRows(chunks(ndjson)));
    expect(rows).toMatchObject([
      { row: 1, values: { a: 1 } },
      { row: 2, text: 'not json' },
      { row: 3, values: { a: 2 } },
    ]);
    expect(await all(readJsonRows(chunks(ndjson)))).toEqual(rows);
    expect(formatOfFileName('orders.JSONL')).toBe('ndjson');
  });

  it('reads Parquet row group by row group, turning safe 64-bit integers into numbers', async () => {
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: 'order_id', data: ['o-1', 'o-2', 'o-3'], type: 'STRING' },
        { name: 'qty', data: [1n, 2n, 3n], type: 'INT64' },
      ],
      rowGroupSize: 2,
    });
    const file: AsyncBuffer = { byteLength: buffer.byteLength, slice: async (start, end) => buffer.slice(start, end) };
    expect(await all(readParquetRows(file))).toEqual([
      { row: 1, values: { order_id: 'o-1', qty: 1 } },
      { row: 2, values: { order_id: 'o-2', qty: 2 } },
      { row: 3, values: { order_id: 'o-3', qty: 3 } },
    ]);
  });

  it('casts and renames columns, and reports a bad cell without throwing', () => {
    const mapping = {
      type: 'commerce.order.placed',
      source: 'imports/orders',
      subject: 'customer_id',
      cast: { amt: 'number' as const },
      rename: { amt: 'amount' },
    };
    const row = { order_id: 'o-1', customer_id: 'c-1', amt: '30.5', order_date: '2025-03-01' };
    const ok = rowToItem(row, mapping, 'file@1', 1);
    expect(ok).toMatchObject({ ok: true, event: { subject: 'c-1', data: { amount: 30.5, customer_id: 'c-1' } } });
    const bad = rowToItem({ ...row, amt: 'thirty' }, mapping, 'file@1', 2);
    expect(bad).toMatchObject({
      ok: false,
      issues: expect.arrayContaining([
        { index: 2, pointer: '/2/amt', message: expect.stringContaining('not a number') },
      ]),
    });
  });
});
