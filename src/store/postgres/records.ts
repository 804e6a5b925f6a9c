/** A field of the rows sent to PostgreSQL: its key in each row object and its SQL type. */
export type RecordField = readonly [key: string, type: string];

export interface RecordSource {
  /** The FROM item that yields one row per object, aliased `x`. */
  from: string;
  /** The SQL expression of each field, by key: `x."key"` when it varies, its own parameter when not. */
  field: Record<string, string>;
  params: unknown[];
}

/**
 * Rows for one statement, as one JSON parameter (json_to_recordset) that holds only the fields
 * whose values differ between the rows; a field with one value in every row goes once, as its own
 * parameter. A batch of runs made by one pass shares most of its twenty fields (task, status,
 * node, lease, nulls): read from JSON for every row, they cost PostgreSQL ~7 µs of the ~21 µs it
 * spent per inserted run (1,000-row batches), and the node the building of that much text.
 * Parameters are numbered from `firstParam`. Values are JSON scalars (string, number, boolean, null).
 */
export function recordSource(fields: readonly RecordField[], objects: ReadonlyArray<Record<string, unknown>>, firstParam = 1): RecordSource {
  const field: Record<string, string> = {};
  const params: unknown[] = [];
  const varying: RecordField[] = [];
  const first = objects[0];
  for (const f of fields) {
    const [key, type] = f;
    const value = first === undefined ? null : (first[key] ?? null);
    if (objects.every((o) => (o[key] ?? null) === value)) {
      params.push(value);
      field[key] = `$${firstParam + params.length - 1}::${type}`;
    } else {
      varying.push(f);
      field[key] = `x."${key}"`;
    }
  }
  params.push(
    varying.length === 0
      ? objects.length
      : JSON.stringify(
          objects.map((o) => {
            const row: Record<string, unknown> = {};
            for (const [key] of varying) row[key] = o[key] ?? null;
            return row;
          }),
        ),
  );
  const p = `$${firstParam + params.length - 1}`;
  const from =
    varying.length === 0
      ? `generate_series(1, ${p}::int4) AS x`
      : `json_to_recordset(${p}::json) AS x(${varying.map(([key, type]) => `"${key}" ${type}`).join(', ')})`;
  return { from, field, params };
}
