/**
 * What kind of read a select is (docs/architecture.md, A hit, a miss, a
 * write): a primary-key read from the row cache, an include-free pointer
 * list, a pointer tree of includes, a whole value (grouping, computed
 * columns, joins pointers cannot represent), or nothing the cache may key.
 */
import type { BypassReason } from '../../source/metrics/snapshot';
import type { ModelSchema } from '../../source/model-schema';
import type { SchemaLookup } from '../cache-context';
import { type Column, isFullRow, projection } from '../columns';
import { type IncludeInfo, pointerIncludes } from './includes';
import type { SelectOptions } from '../query-options';
import { type PrimaryKeyWhere, primaryKeyWhere } from '../where';

/**
 * Option keys that do not change which rows or columns come back (or that are
 * checked separately). A query with any other key set goes to the database:
 * an option this code does not know could change the result.
 */
const NEUTRAL_KEYS = new Set([
  'where', 'attributes', 'originalAttributes', 'raw', 'plain', 'nest', 'limit', 'offset', 'order', 'hooks',
  'rejectOnEmpty', 'transaction', 'logging', 'benchmark', 'tableNames', 'type', 'model', 'paranoid', 'cache',
  'useMaster', 'replacements', 'bind', 'indexHints', 'subQuery', 'include', 'mapToModel', 'searchPath',
  'logQueryParameters', 'supportsSearchPath',
  // findAndCountAll passes its count's `distinct` to the findAll too, and the
  // belongsToMany getters (`getTags`, `hasTag`) leave `joinTableAttributes`
  // after moving it into the through include: Sequelize 6's select reads
  // neither (only count and aggregate read `distinct`, and the include tree,
  // which is keyed, carries the join table's attributes).
  'distinct', 'joinTableAttributes',
]);

/** Keys findAll derives from an include tree (the tree itself goes into the key). */
const INCLUDE_KEYS = new Set([
  'include', 'includeNames', 'includeMap', 'hasJoin', 'hasSingleAssociation', 'hasMultiAssociation', 'topModel',
  'topLimit', 'hasDuplicating', 'hasRequired', 'hasWhere', 'hasIncludeWhere', 'hasIncludeRequired',
  'includeIgnoreAttributes', 'subQuery', 'duplicating', 'subQueryFilter', 'hasParentWhere', 'hasParentRequired',
  'separate',
]);

/** Shapes cached as a whole value: includes, grouping, computed columns. */
export const WHOLE_KEYS = new Set([...NEUTRAL_KEYS, ...INCLUDE_KEYS, 'group', 'having']);

/** Whether every option set is one that cannot change the result beyond what the key records. */
function neutral(options: SelectOptions): boolean {
  for (const key of Object.keys(options)) {
    if (!NEUTRAL_KEYS.has(key) && options[key] !== undefined && options[key] !== false) return false;
  }
  return !(Array.isArray(options.include) && options.include.length > 0) && !(options.include && !Array.isArray(options.include));
}

/** A primary-key read: the row entry. */
export interface RowShape {
  kind: 'row';
  where: PrimaryKeyWhere;
  columns: Column[];
}

/** An include-free list: a pointer list. */
export interface ListShape {
  kind: 'list';
  columns: Column[];
}

/** Anything pointers cannot represent: one whole value of the flat rows. */
export interface WholeShape {
  kind: 'whole';
}

/** Includes whose every level reads full rows: a pointer tree. */
export interface TreeShape {
  kind: 'tree';
  columns: Column[];
  includes: IncludeInfo[];
}

/** How a select is served. */
export type Shape = RowShape | ListShape | WholeShape | TreeShape;

/** The first option set that is not one of `keyed` (`option:NAME`), if any. */
export function unkeyedOption(options: SelectOptions, keyed: ReadonlySet<string> = WHOLE_KEYS): BypassReason | undefined {
  const key = Object.keys(options).find((k) => !keyed.has(k) && options[k] !== undefined && options[k] !== false);
  return key === undefined ? undefined : `option:${key}`;
}

/** How to serve a select: row cache, pointer list, include tree, whole value, or why not at all. */
export function shapeOf(cache: SchemaLookup, schema: ModelSchema, options: SelectOptions): Shape | BypassReason {
  const main = projection(schema, options.attributes);
  // No column at all (`attributes: []`) is an error Sequelize raises when it
  // builds the SQL, or a join that selects only included columns: never a
  // list of empty rows. The whole-value path sends the query as it is.
  const columns = neutral(options) && main && main.length > 0 ? main : undefined;
  if (!columns) {
    const unkeyed = unkeyedOption(options);
    if (unkeyed) return unkeyed;
    if (options.raw && options.nest) return 'raw-nest';
    if (isFullRow(schema, main) && options.hasJoin === true && !options.raw && !options.group && !options.having) {
      const includes = pointerIncludes(cache, options.include, ordersByIncludes(options.order) && (options.limit != null || !!options.offset));
      if (includes && includes.length > 0) return { kind: 'tree', columns: main, includes };
    }
    return { kind: 'whole' };
  }
  if (options.raw && options.nest && columns.some((c) => c.as.includes('.'))) return 'raw-nest';
  const where = schema.paranoidUnsupported ? undefined : primaryKeyWhere(schema, options.where);
  const offset = options.offset ?? 0;
  const limit = options.limit ?? undefined;
  if (where && offset === 0 && (limit === undefined || limit >= 1)) return { kind: 'row', where, columns };
  return { kind: 'list', columns };
}

/** Whether an order clause names included columns (`[Assoc, 'col', 'ASC']`, `'$a.b$'`, `'a.b'`). */
function ordersByIncludes(order: unknown): boolean {
  if (!Array.isArray(order)) return order !== undefined && order !== null;
  return order.some((item) => {
    if (typeof item === 'string') return /[.$]/.test(item);
    if (!Array.isArray(item)) return true;
    return item.length > 2 || typeof item[0] !== 'string' || /[.$]/.test(item[0]);
  });
}
