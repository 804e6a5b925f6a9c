import { ConfigError } from '../errors.js';
import { RUN_STATUSES, type RunFilter } from './types.js';

/**
 * The WHERE clause of a run listing, for either SQL dialect. Each filter uses a column that
 * leads an index ending in id, so "newest first" pages walk an index instead of sorting.
 */
export function runFilterSql(
  filter: RunFilter,
  dialect: 'sqlite' | 'postgres',
): { where: string; params: unknown[]; limit: number } {
  if (!Number.isInteger(filter.limit) || filter.limit < 1) {
    throw new ConfigError('limit', `${String(filter.limit)} is not a valid page size: expected a whole number >= 1`);
  }
  for (const s of filter.status ?? []) {
    if (!(RUN_STATUSES as readonly string[]).includes(s)) {
      throw new ConfigError('status', `"${s}" is not a run status: expected one of ${RUN_STATUSES.join(', ')}`);
    }
  }
  const params: unknown[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return dialect === 'postgres' ? `$${params.length}` : '?';
  };
  const where: string[] = [];
  if (filter.schedule !== undefined) where.push(`schedule = ${p(filter.schedule)}`);
  if (filter.node !== undefined) where.push(`node = ${p(filter.node)}`);
  if (filter.task !== undefined) where.push(`task = ${p(filter.task)}`);
  if (filter.status && filter.status.length > 0) {
    where.push(
      dialect === 'postgres'
        ? `status = ANY(${p(filter.status)}::text[])`
        : `status IN (${filter.status.map((s) => p(s)).join(', ')})`,
    );
  }
  if (filter.from !== undefined) where.push(`scheduled_at >= ${p(filter.from)}`);
  if (filter.to !== undefined) where.push(`scheduled_at < ${p(filter.to)}`);
  if (filter.before !== undefined) where.push(`id < ${p(filter.before)}`);
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', params, limit: filter.limit };
}
