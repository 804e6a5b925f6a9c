import { describe, expect, test } from 'vitest';
import { recordSource, type RecordField } from '../../src/store/postgres/records.js';

const FIELDS: readonly RecordField[] = [['id', 'int8'], ['node', 'text'], ['reason', 'text'], ['late', 'bool']];

describe('recordSource: rows for one statement, shared fields sent once', () => {
  test('a field with one value in every row becomes its own parameter; the others are read from the JSON', () => {
    const src = recordSource(FIELDS, [{ id: 1, node: 'a', reason: null, late: true }, { id: 2, node: 'a', reason: 'x', late: true }], 3);
    expect(src.field).toEqual({ id: 'x."id"', node: '$3::text', reason: 'x."reason"', late: '$4::bool' });
    expect(src.from).toBe('json_to_recordset($5::json) AS x("id" int8, "reason" text)');
    expect(src.params).toEqual(['a', true, JSON.stringify([{ id: 1, reason: null }, { id: 2, reason: 'x' }])]);
  });

  test('an absent field counts as null, alike in every row or not', () => {
    const src = recordSource(FIELDS, [{ id: 1, node: 'a' }, { id: 2, node: 'a', reason: null, late: false }]);
    expect(src.field.reason).toBe('$2::text');
    expect(src.field.late).toBe('x."late"');
    expect(src.params.slice(0, 2)).toEqual(['a', null]);
    expect(JSON.parse(src.params[2] as string)).toEqual([{ id: 1, late: null }, { id: 2, late: false }]);
  });

  test('rows alike in every field are counted, not sent', () => {
    const one = recordSource(FIELDS, [{ id: 7, node: 'a', reason: null, late: false }]);
    expect(one.from).toBe('generate_series(1, $5::int4) AS x');
    expect(one.params).toEqual([7, 'a', null, false, 1]);
    expect(recordSource(FIELDS, []).params).toEqual([null, null, null, null, 0]);
  });
});
