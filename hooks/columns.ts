/** Result columns of a select, resolved against the model's stored attributes. */
import type { ModelSchema } from '../source/model-schema';
import { escapeRegExp } from '../source/util';

export interface Column {
  /** Key in the result object. */
  as: string;
  /** Attribute name in the cached row. */
  from: string;
}

/**
 * Result columns from `attributes` (after field mapping), or undefined for
 * computed ones and for shapes Sequelize resolves later: an included model's
 * default scope arrives as `{ exclude: [...] }`, expanded only when the SQL
 * is generated.
 */
export function projection(schema: ModelSchema, attributes: unknown): Column[] | undefined {
  if (attributes === undefined || attributes === null) return schema.attributes.map((a) => ({ as: a.name, from: a.name }));
  if (!Array.isArray(attributes)) return undefined;
  const columns: Column[] = [];
  for (const entry of attributes) {
    if (typeof entry === 'string') {
      const attribute = schema.byField.get(entry) ?? schema.byName.get(entry);
      if (!attribute) return undefined;
      columns.push({ as: entry, from: attribute.name });
    } else if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'string') {
      const attribute = schema.byField.get(entry[0]);
      if (!attribute) return undefined;
      columns.push({ as: entry[1], from: attribute.name });
    } else {
      return undefined;
    }
  }
  return columns;
}

/** Whether `columns` are every stored attribute under its own name (a full row). */
export function isFullRow(schema: ModelSchema, columns: readonly Column[] | undefined): columns is Column[] {
  return !!columns && columns.length === schema.attributes.length && columns.every((c) => c.as === c.from);
}

/** A cached row as the result columns name it. */
export function project(row: Record<string, unknown>, columns: readonly Column[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns) out[column.as] = row[column.from];
  return out;
}

/** The parts of find options that name attributes (selected, filtered, ordered, grouped, aggregated). */
const NAMING_KEYS = ['attributes', 'where', 'order', 'group', 'having', 'col', 'attributeSelector', 'aggregateColumn', 'distinct'];

type Scannable = { model?: unknown; include?: unknown; through?: unknown } & Record<string, unknown>;

/**
 * Whether a query mentions an attribute kept out of the cache
 * (`models: { X: { exclude } }`) of its model or of an included one. Errs on
 * the side of "yes" (any string naming one, keys included, and any literal
 * SQL containing one as a word), since "yes" only sends the query to the
 * database.
 */
export function mentionsExcluded(
  schema: ModelSchema,
  options: Scannable,
  schemaOf: (model: unknown) => ModelSchema | undefined,
  extra: unknown[] = [],
): boolean {
  const names = new Set(schema.excluded);
  const scopes: Scannable[] = [];
  const gather = (scope: Scannable, depth: number) => {
    scopes.push(scope);
    if (depth > 8 || !Array.isArray(scope.include)) return;
    for (const include of scope.include as Scannable[]) {
      if (!include || typeof include !== 'object') continue;
      for (const name of schemaOf(include.model)?.excluded ?? []) names.add(name);
      for (const name of schemaOf((include.through as Scannable | undefined)?.model)?.excluded ?? []) names.add(name);
      gather(include, depth + 1);
      if (include.through && typeof include.through === 'object') scopes.push(include.through as Scannable);
    }
  };
  gather(options, 0);
  if (names.size === 0) return false;
  const words = [...names].map((n) => escapeRegExp(n));
  const inText = new RegExp(`(^|[^A-Za-z0-9_$])(${words.join('|')})($|[^A-Za-z0-9_$])`);
  const seen = new Set<object>();
  const walk = (value: unknown, depth: number): boolean => {
    if (typeof value === 'string') return inText.test(value);
    if (value === null || typeof value !== 'object' || depth > 12 || seen.has(value) || ArrayBuffer.isView(value) || value instanceof Date) {
      return false;
    }
    seen.add(value);
    if (Array.isArray(value)) return value.some((v) => walk(v, depth + 1));
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key === 'string' && inText.test(key)) return true;
      if (walk((value as Record<string | symbol, unknown>)[key], depth + 1)) return true;
    }
    return false;
  };
  return scopes.some((scope) => NAMING_KEYS.some((key) => walk(scope[key], 0))) || extra.some((v) => walk(v, 0));
}
