/**
 * Which columns of its own model a list, tree or count reads besides the
 * rows it points to (source/tokens/conjunctions.ts, "reads"): the columns of
 * its conditions, of its order, of a count's aggregate, of the keys its
 * includes join on. An update that sets none of them leaves the entry's
 * answer as it was, so its tokens need not rotate. Whatever this cannot
 * name for sure (SQL literals and functions, nested or JSON paths, a column
 * compared with another, an order that is not total: its ties fall in
 * whatever order the database scans) is "every column": undefined.
 */
import type { ModelSchema } from '../../source/model-schema';
import { isPlainObject, Op } from '../../source/util';
import type { SelectOptions } from '../query-options';
import type { IncludeInfo } from './includes';

/** Thrown inside the walks: something reads columns that cannot be named. */
class Unnamed extends Error {}

/** Operators that combine conditions rather than compare a column. */
const COMBINING = new Set<symbol>([Op.and, Op.or, Symbol.for('not')]);

/** Operators whose operand names another column (`{ a: { [Op.col]: 'b' } }`) or is SQL. */
const REFERRING = new Set<symbol>([Symbol.for('col'), Symbol.for('placeholder'), Symbol.for('values')]);

function attribute(schema: ModelSchema, key: string): string {
  const found = schema.byName.get(key) ?? schema.byField.get(key);
  if (!found) throw new Unnamed();
  return found.name;
}

/** A condition's operand: values only (no column references, no SQL). */
function operand(value: unknown): void {
  if (value === null || value === undefined || typeof value !== 'object') {
    if (typeof value === 'function' || typeof value === 'symbol') throw new Unnamed();
    return;
  }
  if (value instanceof Date || Buffer.isBuffer(value)) return;
  if (Array.isArray(value)) return value.forEach(operand);
  if (!isPlainObject(value)) throw new Unnamed();
  // Operators on the same column ({ [Op.gt]: 3 }, { [Op.or]: [1, 2] });
  // string keys would be a JSON path into it, which still reads only it,
  // unless they are operator aliases (`$col` names another column).
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'symbol' ? REFERRING.has(key) : key.startsWith('$')) throw new Unnamed();
    operand(value[key]);
  }
}

function where(schema: ModelSchema, value: unknown, into: Set<string>): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) return value.forEach((part) => where(schema, part, into));
  if (!isPlainObject(value)) throw new Unnamed();
  for (const key of Reflect.ownKeys(value)) {
    if (typeof key === 'symbol') {
      if (!COMBINING.has(key)) throw new Unnamed();
      where(schema, value[key], into);
      continue;
    }
    into.add(attribute(schema, key));
    operand(value[key]);
  }
}

/** The columns of an order; whether it is total (names every primary key column). */
function order(schema: ModelSchema, value: unknown, into: Set<string>): boolean {
  if (value === undefined || value === null) return false;
  if (!Array.isArray(value)) throw new Unnamed();
  const named = new Set<string>();
  for (const item of value) {
    const column = typeof item === 'string' ? item : Array.isArray(item) && item.length <= 2 && (item.length < 2 || typeof item[1] === 'string') ? item[0] : undefined;
    if (typeof column !== 'string') throw new Unnamed();
    named.add(attribute(schema, column));
  }
  for (const name of named) into.add(name);
  return schema.primaryKeys.every((pk) => named.has(pk.name));
}

/**
 * What a pointer list or tree reads of its model's columns, or undefined for
 * every column. Its rows come from their own entries, which every update
 * tombstones; which rows, and in what order, is decided by its where and
 * order, and for a tree also by the keys its includes join on. The order
 * must be total: a tie is broken by whatever the database scans first, which
 * an update of any column can move.
 */
export function listReads(schema: ModelSchema, options: SelectOptions, includes: readonly IncludeInfo[] = []): Set<string> | undefined {
  const reads = new Set<string>(schema.primaryKeys.map((pk) => pk.name));
  try {
    where(schema, options.where, reads);
    if (!order(schema, options.order, reads)) return undefined;
  } catch (error) {
    if (error instanceof Unnamed) return undefined;
    throw error;
  }
  // An include that filters (required, its own where, a custom `on`) can
  // join on any column: every column then.
  const filtering = (level: readonly IncludeInfo[]): boolean => level.some((i) => i.filters || filtering(i.children));
  if (filtering(includes)) return undefined;
  for (const include of includes) {
    const key = include.belongsTo?.foreignKey ?? include.relation?.sourceKey;
    if (key === undefined || !schema.byName.has(key)) return undefined;
    reads.add(key);
  }
  return reads;
}

/** The columns an aggregate's `fn(…)` / `col(…)` reads (`*` reads none). */
function aggregated(schema: ModelSchema, value: unknown, into: Set<string>): void {
  if (value === '*') return;
  if (typeof value === 'string') return void into.add(attribute(schema, value));
  const method = value as { constructor?: { name?: unknown }; col?: unknown; fn?: unknown; args?: unknown };
  const kind = value && typeof value === 'object' ? method.constructor?.name : undefined;
  if (kind === 'Col' && typeof method.col === 'string') return aggregated(schema, method.col, into);
  if (kind === 'Fn' && typeof method.fn === 'string' && /^[A-Za-z_]+$/.test(method.fn) && Array.isArray(method.args)) {
    return method.args.forEach((arg) => aggregated(schema, arg, into));
  }
  throw new Unnamed();
}

/**
 * What a count or aggregate without includes or grouping reads: its where
 * and the columns its aggregate takes (`[fn, alias]` attributes); undefined
 * for every column.
 */
export function aggregateReads(schema: ModelSchema, options: SelectOptions): Set<string> | undefined {
  const include = options.include;
  if ((Array.isArray(include) && include.length > 0) || (include && !Array.isArray(include)) || options.group || options.having) return undefined;
  const reads = new Set<string>();
  try {
    where(schema, options.where, reads);
    const attributes = options.attributes;
    if (!Array.isArray(attributes)) throw new Unnamed();
    for (const item of attributes) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[1] !== 'string') throw new Unnamed();
      aggregated(schema, item[0], reads);
    }
  } catch (error) {
    if (error instanceof Unnamed) return undefined;
    throw error;
  }
  return reads;
}
