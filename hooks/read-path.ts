/**
 * The read path. Sequelize funnels findAll / findOne / findByPk (and
 * findAndCountAll's rows) into `queryInterface.select(model, table, options)`
 * after it has applied scopes, run beforeFind hooks, mapped attributes to
 * columns and added the paranoid clause, and it runs afterFind, rejectOnEmpty
 * and `separate` includes on whatever select returns. Answering there keeps
 * every one of those behaviours for cached reads.
 */
import type { Model, ModelStatic } from 'sequelize';
import { conjunctionOf } from '../source/conjunctions';
import { InvalidationWarning } from '../source/errors';
import { primaryKeyText, rowKeyText } from '../source/keys';
import type { PkValues } from '../source/list-cache';
import type { ModelSchema } from '../source/model-schema';
import { canonical, digest } from '../source/query-key';
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

interface ListPlanKind {
  kind: 'list';
  columns: Column[];
}

/** How to serve a select: from the row cache, as a pointer list, or not at all. */
function plan(schema: ModelSchema, options: SelectOptions): RowPlan | ListPlanKind | undefined {
  if (!neutral(options)) return undefined;
  const columns = projection(schema, options.attributes);
  if (!columns) return undefined;
  if (options.raw && options.nest && columns.some((c) => c.as.includes('.'))) return undefined;
  const where = schema.paranoidUnsupported ? undefined : primaryKeyWhere(schema, options.where);
  const offset = options.offset ?? 0;
  const limit = options.limit ?? undefined;
  if (where && offset === 0 && (limit === undefined || limit >= 1)) return { kind: 'row', where, columns };
  return { kind: 'list', columns };
}

const ALL_COLUMNS = (schema: ModelSchema) => schema.attributes.map((a) => (a.field === a.name ? a.name : [a.field, a.name]));

/** The full-row query for a row-cache miss: every stored attribute, raw, by primary key only. */
function fullRowOptions(schema: ModelSchema, options: SelectOptions, where: PrimaryKeyWhere): SelectOptions {
  const pkWhere: Record<string, unknown> = {};
  schema.primaryKeys.forEach((a, i) => {
    pkWhere[a.field] = where.values[i];
  });
  return {
    ...options,
    where: pkWhere,
    attributes: ALL_COLUMNS(schema),
    originalAttributes: undefined,
    raw: true,
    plain: false,
    nest: false,
    limit: undefined,
    offset: undefined,
    order: undefined,
  };
}

/** The same query reading full raw rows (a list is built from them; columns are projected afterwards). */
function fullListOptions(schema: ModelSchema, options: SelectOptions): SelectOptions {
  return { ...options, attributes: ALL_COLUMNS(schema), originalAttributes: undefined, raw: true, plain: false, nest: false };
}

/** Rows by primary key, whatever their paranoid state (the list already applied the where). */
function rowsByKeyOptions(schema: ModelSchema, options: SelectOptions, pks: PkValues[]): SelectOptions {
  const [only] = schema.primaryKeys;
  const where =
    schema.primaryKeys.length === 1 && only
      ? { [only.field]: { [Symbol.for('in')]: pks.map((pk) => pk[0]) } }
      : { [Symbol.for('or')]: pks.map((pk) => Object.fromEntries(schema.primaryKeys.map((a, i) => [a.field, pk[i]]))) };
  return { ...fullListOptions(schema, options), where, limit: undefined, offset: undefined, order: undefined };
}

/** The hash of everything that shapes the result; undefined when not representable. */
function listHash(tableName: unknown, options: SelectOptions, columns: Column[]): string | undefined {
  const custom = typeof options.cache === 'object' && options.cache !== null ? options.cache.key : undefined;
  if (typeof custom === 'string' && custom.length > 0) return digest(`key:${custom}`);
  const text = canonical([
    tableName,
    options.where,
    options.order,
    options.limit ?? null,
    options.offset ?? null,
    columns.map((c) => [c.as, c.from]),
    !!options.raw,
    !!options.plain,
    !!options.nest,
    options.replacements,
    options.bind,
    options.indexHints,
  ]);
  return text === undefined ? undefined : digest(text);
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

/** What `sequelize.query` would have returned for this select, built from cached rows. */
function buildResult(
  model: ModelStatic<Model>,
  options: SelectOptions,
  columns: Column[],
  rows: Record<string, unknown>[],
): unknown {
  const projected = rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const column of columns) out[column.as] = row[column.from];
    return out;
  });
  const result = options.raw
    ? projected
    : (model as unknown as Builder).bulkBuild(projected, {
        isNewRecord: false,
        raw: true,
        attributes: options.originalAttributes ?? options.attributes,
      });
  return options.plain ? (result[0] ?? null) : result;
}

/** The row, unless the query's paranoid clause hides it. */
function visible(schema: ModelSchema, plan: RowPlan, row: Record<string, unknown> | undefined): Record<string, unknown>[] {
  if (!row) return [];
  if (plan.where.paranoid && schema.paranoid && row[schema.paranoid.name] !== null) return [];
  return [row];
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
    const ttl = queryTtl(options) ?? cache.ttlFor(schema);

    if (how.kind === 'list') {
      const hash = listHash(tableName, options, how.columns);
      if (hash === undefined) {
        cache.metrics.add('bypassed');
        return run(options);
      }
      return listSelect(cache, run, model, schema, options, how.columns, hash, ttl);
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
        return buildResult(model, options, how.columns, visible(schema, how, row));
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
    return buildResult(model, options, how.columns, visible(schema, how, row));
  };
}

function queryTtl(options: SelectOptions): number | undefined {
  const ttl = typeof options.cache === 'object' && options.cache !== null ? options.cache.ttl : undefined;
  return typeof ttl === 'number' && Number.isInteger(ttl) && ttl > 0 ? ttl : undefined;
}

/** Primary key values of a raw row. */
function pkValuesOf(schema: ModelSchema, row: Record<string, unknown>): PkValues {
  return schema.primaryKeys.map((a) => row[a.name]);
}

/**
 * Serve a list query: the entry's primary keys, then the rows in one
 * multi-get, then rows missing from the cache in one `WHERE pk IN (…)`.
 */
async function listSelect(
  cache: OrmCache,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  columns: Column[],
  hash: string,
  ttl: number,
): Promise<unknown> {
  const plan = cache.lists.plan(schema, hash, conjunctionOf(schema, options.where));
  let fetched = new Map<string, string>();
  if (!refreshRequested(options)) {
    const lookup = await cache.lists.lookup(plan);
    if (!lookup.ok) {
      cache.metrics.add('listMisses');
      return run(options);
    }
    fetched = lookup.fetched;
    if (lookup.pks) {
      const rows = await rowsOfList(cache, run, model, schema, options, lookup.pks);
      if (rows) {
        cache.metrics.add('listHits');
        return buildResult(model, options, columns, rows);
      }
    }
  }
  cache.metrics.add('listMisses');
  const startedAt = cache.options.clock.now();
  const tokens = await cache.lists.prepare(plan, fetched);
  const rows = (await run(fullListOptions(schema, options))) as Record<string, unknown>[];
  if (tokens) {
    const pks = rows.map((row) => pkValuesOf(schema, row));
    if (pks.every((pk) => primaryKeyText(schema, pk) !== undefined)) {
      // The row tokens (namespace, row epoch) lead the list's tokens and were
      // read before the database read, as a row fill requires.
      const ticket = { schema, tokens: tokens.slice(0, 2), startedAt };
      const warm = rows.slice(0, cache.options.warmLimit).map((row) => [rowKeyText(schema, row) as string, row] as const);
      await Promise.all([cache.lists.save(plan, tokens, pks, ttl), cache.rows.warm(ticket, warm, cache.ttlFor(schema))]);
    }
  }
  return buildResult(model, options, columns, rows);
}

/**
 * The rows a valid list points to, in its order: from the row cache, then
 * the missing ones from the database (filled race-free). `undefined` when a
 * pointed-to row no longer exists: the list is stale behind the cache's back
 * and must be rebuilt (the seed's InvalidationWarning).
 */
async function rowsOfList(
  cache: OrmCache,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  pks: PkValues[],
): Promise<Record<string, unknown>[] | undefined> {
  if (pks.length === 0) return [];
  const texts = pks.map((pk) => primaryKeyText(schema, pk));
  if (texts.some((t) => t === undefined)) return undefined;
  const lookup = await cache.rows.lookup(schema, texts as string[]);
  const found = new Map<number, Record<string, unknown>>();
  const missing: number[] = [];
  texts.forEach((text, i) => {
    const row = lookup.rows.get(text as string);
    if (row && exactKey(schema, row, pks[i] as PkValues)) found.set(i, row);
    else missing.push(i);
  });
  if (missing.length > 0) {
    const unique = [...new Set(missing.map((i) => texts[i] as string))];
    const tickets = new Map(
      await Promise.all(unique.map(async (text) => [text, await cache.rows.beginFill(schema, text, lookup.fetched)] as const)),
    );
    const fetched = (await run(rowsByKeyOptions(schema, options, missing.map((i) => pks[i] as PkValues)))) as Record<string, unknown>[];
    const byText = new Map<string, Record<string, unknown>>();
    for (const row of fetched) byText.set(rowKeyText(schema, row) as string, row);
    const gone: PkValues[] = [];
    for (const i of missing) {
      const row = byText.get(texts[i] as string);
      if (row && exactKey(schema, row, pks[i] as PkValues)) found.set(i, row);
      else gone.push(pks[i] as PkValues);
    }
    await Promise.all(
      [...byText].map(([text, row]) => {
        const ticket = tickets.get(text);
        return ticket ? cache.rows.completeFill(ticket, row, cache.ttlFor(schema)) : undefined;
      }),
    );
    if (gone.length > 0) {
      cache.warnMissing(new InvalidationWarning(model.name, gone.map((pk) => (pk.length === 1 ? pk[0] : pk))));
      return undefined;
    }
  }
  return pks.map((_, i) => found.get(i) as Record<string, unknown>);
}
