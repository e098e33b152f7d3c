/**
 * The read path. Sequelize funnels findAll / findOne / findByPk (and
 * findAndCountAll's rows) into `queryInterface.select(model, table, options)`
 * after it has applied scopes, run beforeFind hooks, mapped attributes to
 * columns and added the paranoid clause, and it runs afterFind, rejectOnEmpty
 * and `separate` includes on whatever select returns. Answering there keeps
 * every one of those behaviours for cached reads.
 */
import type { Model, ModelStatic } from 'sequelize';
import type { ModelSchema } from '../source/model-schema';
import { rowKeyText } from '../source/keys';
import type { QueryCacheOptions } from '../source/types';
import type { OrmCache } from './orm-cache';
import { currentTransaction } from './transactions';
import { type PrimaryKeyWhere, primaryKeyWhere } from './where';

/** The options select receives (a findAll options object after processing). */
export type SelectOptions = Record<string, unknown> & {
  where?: unknown;
  attributes?: unknown[];
  originalAttributes?: unknown[];
  raw?: boolean;
  plain?: boolean;
  nest?: boolean;
  include?: unknown[];
  limit?: number | null;
  offset?: number | null;
  cache?: boolean | QueryCacheOptions;
};

export type SelectFn = (model: ModelStatic<Model>, tableName: unknown, options: SelectOptions) => Promise<unknown>;

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
]);

interface Column {
  /** Key in the result object. */
  as: string;
  /** Attribute name in the cached row. */
  from: string;
}

/** Result columns from `attributes` (after field mapping), or undefined for computed ones. */
function projection(schema: ModelSchema, attributes: unknown[] | undefined): Column[] | undefined {
  if (!attributes) return schema.attributes.map((a) => ({ as: a.name, from: a.name }));
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

function neutral(options: SelectOptions): boolean {
  for (const key of Object.keys(options)) {
    if (!NEUTRAL_KEYS.has(key) && options[key] !== undefined && options[key] !== false) return false;
  }
  return !(Array.isArray(options.include) && options.include.length > 0) && !(options.include && !Array.isArray(options.include));
}

interface RowPlan {
  kind: 'row';
  where: PrimaryKeyWhere;
  columns: Column[];
}

interface WarmPlan {
  kind: 'warm';
}

/** How to serve a select: from the row cache, warming the row cache, or neither. */
function plan(schema: ModelSchema, options: SelectOptions): RowPlan | WarmPlan | undefined {
  if (!neutral(options)) return undefined;
  const columns = projection(schema, options.attributes);
  if (!columns) return undefined;
  if (options.raw && options.nest && columns.some((c) => c.as.includes('.'))) return undefined;
  const where = schema.paranoidUnsupported ? undefined : primaryKeyWhere(schema, options.where);
  const offset = options.offset ?? 0;
  const limit = options.limit ?? undefined;
  if (where && offset === 0 && (limit === undefined || limit >= 1)) return { kind: 'row', where, columns };
  // Warm from results that carry every stored attribute under its own name.
  const full =
    columns.length === schema.attributes.length && columns.every((c) => c.as === c.from) && !options.nest;
  return full ? { kind: 'warm' } : undefined;
}

/** The full-row query for a row-cache miss: every stored attribute, raw, by primary key only. */
function fullRowOptions(schema: ModelSchema, options: SelectOptions, where: PrimaryKeyWhere): SelectOptions {
  const pkWhere: Record<string, unknown> = {};
  schema.primaryKeys.forEach((a, i) => {
    pkWhere[a.field] = where.values[i];
  });
  return {
    ...options,
    where: pkWhere,
    attributes: schema.attributes.map((a) => (a.field === a.name ? a.name : [a.field, a.name])),
    originalAttributes: undefined,
    raw: true,
    plain: false,
    nest: false,
    limit: undefined,
    offset: undefined,
    order: undefined,
  };
}

/**
 * String keys are looked up case-folded (see keyValueText); the cached row is
 * used only when its key equals what the query asked for exactly, since under
 * a binary collation a differently-cased key is another row.
 */
function exactKey(schema: ModelSchema, row: Record<string, unknown>, values: unknown[]): boolean {
  return schema.primaryKeys.every((a, i) => {
    if (a.keyKind === 'integer') return true;
    return row[a.name] === values[i];
  });
}

/** bulkBuild as handleSelectQuery calls it (its `attributes` option is not in the typings). */
interface Builder {
  bulkBuild(rows: Record<string, unknown>[], options: Record<string, unknown>): Model[];
}

/** What `sequelize.query` would have returned for this select, built from a cached row. */
function buildResult(
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  plan: RowPlan,
  row: Record<string, unknown> | undefined,
): unknown {
  const hidden = row && plan.where.paranoid && schema.paranoid && row[schema.paranoid.name] !== null;
  const rows: Record<string, unknown>[] = [];
  if (row && !hidden) {
    const projected: Record<string, unknown> = {};
    for (const column of plan.columns) projected[column.as] = row[column.from];
    rows.push(projected);
  }
  const result = options.raw
    ? rows
    : (model as unknown as Builder).bulkBuild(rows, {
        isNewRecord: false,
        raw: true,
        attributes: options.originalAttributes ?? options.attributes,
      });
  return options.plain ? (result[0] ?? null) : result;
}

function refreshRequested(options: SelectOptions): boolean {
  return typeof options.cache === 'object' && options.cache !== null && options.cache.refresh === true;
}

/** A select that serves primary-key reads from the row cache and warms it from other reads. */
export function cachedSelect(cache: OrmCache, original: SelectFn): SelectFn {
  return async function select(this: unknown, model, tableName, options) {
    const run = (opts: SelectOptions) => original.call(this, model, tableName, opts);
    const schema = cache.schemaOf(model);
    if (!schema || !options || options.cache === false) return run(options);
    if (currentTransaction(cache.sequelize, options)) {
      cache.metrics.add('bypassed');
      return run(options);
    }
    const how = plan(schema, options);
    if (!how) {
      cache.metrics.add('bypassed');
      return run(options);
    }
    const ttl = cache.ttlFor(schema);

    if (how.kind === 'warm') {
      const ticket = cache.options.warmLimit > 0 ? await cache.rows.beginWarm(schema) : undefined;
      const results = await run(options);
      if (ticket) {
        const list = (Array.isArray(results) ? results : results ? [results] : []) as unknown[];
        const rows: [string, Record<string, unknown>][] = [];
        for (const item of list.slice(0, cache.options.warmLimit)) {
          const values = (options.raw ? item : (item as { dataValues?: unknown }).dataValues) as Record<string, unknown>;
          const pk = values && rowKeyText(schema, values);
          if (pk !== undefined) rows.push([pk, values]);
        }
        await cache.rows.warm(ticket, rows, ttl);
      }
      return results;
    }

    const { pkText, values } = how.where;
    let known: Map<string, string> | undefined;
    if (!refreshRequested(options)) {
      const lookup = await cache.rows.lookup(schema, [pkText]);
      const row = lookup.rows.get(pkText);
      if (row) {
        if (!exactKey(schema, row, values)) {
          cache.metrics.add('bypassed');
          return run(options);
        }
        cache.metrics.add('rowHits');
        return buildResult(model, schema, options, how, row);
      }
      if (!lookup.ok) {
        // The store is failing: skip the fill's extra round trips entirely.
        cache.metrics.add('rowMisses');
        return run(options);
      }
      known = lookup.fetched;
    }
    cache.metrics.add('rowMisses');
    const ticket = await cache.rows.beginFill(schema, pkText, known);
    const fetched = (await run(fullRowOptions(schema, options, how.where))) as Record<string, unknown>[];
    const row = fetched[0];
    if (row && ticket) await cache.rows.completeFill(ticket, row, ttl);
    // The database matched this row to the query (a case-insensitive collation
    // may return another spelling of the key), so it is the right answer here.
    return buildResult(model, schema, options, how, row);
  };
}
