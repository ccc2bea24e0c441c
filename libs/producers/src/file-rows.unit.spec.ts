import { deterministicId, ErrorCode, TidewayError } from '@tideway/events';
import { describe, expect, it } from 'vitest';
import { rowToEvent, type RowMapping } from './file-rows.ts';

function thrown(fn: () => unknown): TidewayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TidewayError) return error;
    throw error;
  }
  throw new Error('expected a TidewayError');
}

const orders: RowMapping = {
  type: 'commerce.order.placed',
  source: 'imports/orders',
  subject: 'customer_id',
  time: 'order_date',
};
const row = { order_id: 'o-1', customer_id: 'c-9', amount: 30, currency: 'EUR', order_date: '2025-03-01' };

describe('rowToEvent', () => {
  it('maps a row, with an id that is the same on every load of the same file', () => {
    const event = rowToEvent(row, orders, 'orders.csv@etag-3f2a', 7);
    expect(event).toEqual({
      specversion: '1.0',
      id: deterministicId('orders.csv@etag-3f2a', 7),
      source: 'imports/orders',
      type: 'commerce.order.placed',
      subject: 'c-9',
      time: '2025-03-01T00:00:00.000Z',
      datacontenttype: 'application/json',
      data: row,
    });
    expect(rowToEvent(row, orders, 'orders.csv@etag-3f2a', 7).id).toBe(event.id);
    expect(rowToEvent(row, orders, 'orders.csv@etag-3f2a', 8).id).not.toBe(event.id);
    expect(rowToEvent(row, orders, 'orders.csv@etag-9999', 7).id).not.toBe(event.id);
  });

  it('takes the id from the natural key columns when given', () => {
    expect(rowToEvent(row, { ...orders, idColumns: ['order_id'] }, 'a', 1).id).toBe('o-1');
    const composite = { ...orders, idColumns: ['customer_id', 'order_id'] };
    const id = rowToEvent(row, composite, 'file-a', 1).id;
    expect(rowToEvent(row, composite, 'file-b', 99).id).toBe(id);
    expect(rowToEvent({ ...row, order_id: 'o-2' }, composite, 'file-a', 1).id).not.toBe(id);
  });

  it('reads the usual shapes of a time column', () => {
    const timeOf = (value: unknown, timeUnit?: 'seconds') =>
      rowToEvent(
        { ...row, order_date: value },
        { ...orders, type: 'files.row', ...(timeUnit ? { timeUnit } : {}) },
        'f',
        1,
      ).time;
    expect(timeOf('2025-03-01T13:00:00+01:00')).toBe('2025-03-01T12:00:00.000Z');
    expect(timeOf('2025-03-01 12:30:00')).toBe('2025-03-01T12:30:00.000Z');
    expect(timeOf(new Date('2025-03-01T12:00:00Z'))).toBe('2025-03-01T12:00:00.000Z');
    expect(timeOf(1_740_830_400, 'seconds')).toBe('2025-03-01T12:00:00.000Z');
    expect(timeOf('1740830400000')).toBe('2025-03-01T12:00:00.000Z');
    expect(timeOf('')).toBeUndefined();
  });

  it('selects the data columns', () => {
    const plain = { ...orders, type: 'files.row' };
    expect(rowToEvent(row, { ...plain, data: 'rest' }, 'f', 1).data).toEqual({
      order_id: 'o-1',
      amount: 30,
      currency: 'EUR',
    });
    expect(rowToEvent(row, { ...plain, data: ['amount', 'missing'] }, 'f', 1).data).toEqual({ amount: 30 });
    // A registered type's payload schema still applies to the selected columns.
    expect(thrown(() => rowToEvent(row, { ...orders, data: ['amount'] }, 'f', 1)).details.issues?.[0]?.pointer).toBe(
      '/1/order_id',
    );
    const when = new Date('2025-03-01T00:00:00Z');
    expect(rowToEvent({ ...row, big: 12n, when }, { ...orders, type: 'files.row' }, 'f', 1).data).toMatchObject({
      big: '12',
      when: when.toISOString(),
    });
  });

  it('points issues at the columns of the row', () => {
    const error = thrown(() => rowToEvent({ ...row, amount: '30.00', order_date: 'yesterday' }, orders, 'f', 12));
    expect(error.code).toBe(ErrorCode.InvalidEvent);
    expect(error.message).toMatch(/^row 12 is invalid/);
    expect(error.details.issues?.map((i) => [i.index, i.pointer])).toEqual([
      [12, '/12/order_date'],
      [12, '/12/amount'],
    ]);
    const blankKey = thrown(() =>
      rowToEvent({ ...row, order_id: ' ' }, { ...orders, idColumns: ['order_id'] }, 'f', 3),
    );
    expect(blankKey.details.issues?.map((i) => i.pointer)).toEqual(['/3/order_id']);
  });
});
