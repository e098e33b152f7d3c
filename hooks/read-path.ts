/**
 * The read path. Sequelize funnels findAll / findOne / findByPk (and
 * findAndCountAll's rows) into `queryInterface.select(model, table, options)`
 * after it has applied scopes, run beforeFind hooks, mapped attributes to
 * columns and added the paranoid clause, and it runs afterFind, rejectOnEmpty
 * and `separate` includes on whatever select returns. Answering there keeps
 * every one of those behaviours for cached reads.
 */
import type { Model, ModelStatic } from 'sequelize';
import { type Conjunction, conditionText, conjunctionId, conjunctionOf } from '../source/conjunctions';
import { InvalidationWarning } from '../source/errors';
import { primaryKeyText, rowKeyText } from '../source/keys';
import type { ListLookup, ListPlan, PkValues, SoftExpiry } from '../source/list-cache';
import type { MarkReading } from '../source/write-marks';
import type { FillTicket, WarmTicket } from '../source/row-cache';
import type { AttributeInfo, ModelSchema } from '../source/model-schema';
import { canonical, digest } from '../source/query-key';
import type { ReadCounter, ReadMeter } from '../source/metrics';
import type { QueryCacheOptions } from '../source/types';
import { type Column, mentionsExcluded, projection } from './columns';
import {
  encodeTree,
  type IncludeInfo,
  pointerIncludes,
  rebuildTree,
  relationKeys,
  relationsOf,
  type RowIndex,
  treeKeys,
} from './include-tree';
import type { OrmCache } from './orm-cache';
import { SingleFlight } from '../stampede/single-flight';
import { checkCacheOption } from './query-options';
import { tablesRead } from './raw-sql';
import { modelsByTable } from './tables';
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

/** Keys findAll derives from an include tree (the tree itself goes into the key). */
const INCLUDE_KEYS = new Set([
  'include', 'includeNames', 'includeMap', 'hasJoin', 'hasSingleAssociation', 'hasMultiAssociation', 'topModel',
  'topLimit', 'hasDuplicating', 'hasRequired', 'hasWhere', 'hasIncludeWhere', 'hasIncludeRequired',
  'includeIgnoreAttributes', 'subQuery', 'duplicating', 'subQueryFilter', 'hasParentWhere', 'hasParentRequired',
  'separate',
]);

/** Shapes cached as a whole value: includes, grouping, computed columns. */
const WHOLE_KEYS = new Set([...NEUTRAL_KEYS, ...INCLUDE_KEYS, 'group', 'having']);

/** Symbol marking a `cache.forget()` run: drop the entry, throw {@link Forgotten}, never query. */
export const FORGET = Symbol('sequelize-orm-cache.forget');

/** Thrown by the select wrapper to end a `cache.forget()` run without SQL. */
export class Forgotten extends Error {}

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

interface WholePlan {
  kind: 'whole';
}

interface TreePlan {
  kind: 'tree';
  columns: Column[];
  includes: IncludeInfo[];
}

type Plan = RowPlan | ListPlanKind | WholePlan | TreePlan;

/** How to serve a select: row cache, pointer list, include tree, whole value, or not at all. */
function plan(cache: OrmCache, schema: ModelSchema, options: SelectOptions): Plan | undefined {
  const main = projection(schema, options.attributes);
  // No column at all (`attributes: []`) is an error Sequelize raises when it
  // builds the SQL, or a join that selects only included columns: never a
  // list of empty rows. The whole-value path sends the query as it is.
  const columns = neutral(options) && main && main.length > 0 ? main : undefined;
  if (!columns) {
    const allowed = Object.keys(options).every((k) => WHOLE_KEYS.has(k) || options[k] === undefined || options[k] === false);
    if (!allowed || (options.raw && options.nest)) return undefined;
    const fullRows = main && main.length === schema.attributes.length && main.every((c) => c.as === c.from);
    if (fullRows && options.hasJoin === true && !options.raw && !options.group && !options.having) {
      const includes = pointerIncludes(cache, options.include, ordersByIncludes(options.order) && (options.limit != null || !!options.offset));
      if (includes && includes.length > 0) return { kind: 'tree', columns: main, includes };
    }
    return { kind: 'whole' };
  }
  if (options.raw && options.nest && columns.some((c) => c.as.includes('.'))) return undefined;
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

type Include = {
  model?: unknown;
  as?: unknown;
  where?: unknown;
  required?: unknown;
  right?: unknown;
  attributes?: unknown;
  separate?: unknown;
  paranoid?: unknown;
  duplicating?: unknown;
  order?: unknown;
  limit?: unknown;
  through?: { model?: unknown; where?: unknown; attributes?: unknown; paranoid?: unknown };
  include?: Include[];
};

/** What of an include tree shapes the result (the processed tree also holds parents and associations). */
function includeShape(includes: unknown): unknown {
  if (!Array.isArray(includes)) return null;
  return (includes as Include[]).map((i) => ({
    model: i.model,
    as: i.as,
    where: i.where,
    required: i.required,
    right: i.right,
    attributes: i.attributes,
    separate: i.separate,
    paranoid: i.paranoid,
    duplicating: i.duplicating,
    order: i.order,
    limit: i.limit,
    through: i.through ? { model: i.through.model, where: i.through.where, attributes: i.through.attributes, paranoid: i.through.paranoid } : null,
    include: includeShape(i.include),
  }));
}

/** Every model an include tree reads, through models included. */
export function includedModels(includes: unknown, into: unknown[] = []): unknown[] {
  if (!Array.isArray(includes)) return into;
  for (const i of includes as Include[]) {
    into.push(i.model);
    if (i.through?.model) into.push(i.through.model);
    includedModels(i.include, into);
  }
  return into;
}

/** The entry name `cache: { key }` gives, if any. */
function customKey(options: SelectOptions): string | undefined {
  const custom = typeof options.cache === 'object' && options.cache !== null ? options.cache.key : undefined;
  return typeof custom === 'string' && custom.length > 0 ? digest(`key:${custom}`) : undefined;
}

/**
 * The hash of everything that shapes the result; undefined when not
 * representable. The SQL text of its literals is pushed onto `sql`.
 */
function listHash(tableName: unknown, options: SelectOptions, how: Plan, sql: string[]): string | undefined {
  const custom = customKey(options);
  const columns = how.kind === 'list' ? how.columns : undefined;
  const text = canonical([
    how.kind,
    tableName,
    options.where,
    options.order,
    options.limit ?? null,
    options.offset ?? null,
    columns ? columns.map((c) => [c.as, c.from]) : options.attributes,
    includeShape(options.include),
    options.group,
    options.having,
    options.subQuery,
    !!options.raw,
    !!options.plain,
    !!options.nest,
    options.replacements,
    options.bind,
    options.indexHints,
  ], sql);
  return custom ?? (text === undefined ? undefined : digest(text));
}

/**
 * Schemas of the other models an entry depends on: included models,
 * `dependsOn` (classes or names), and the models of every table the SQL text
 * of its literals (`sql`) reads; `undefined` when one of them is not cached
 * (its writes invalidate nothing, so the entry could go stale) or a literal
 * reads a table no model stores.
 */
function otherSchemas(cache: OrmCache, schema: ModelSchema, options: SelectOptions, sql: readonly string[]): ModelSchema[] | undefined {
  const cacheOption = typeof options.cache === 'object' && options.cache !== null ? options.cache : {};
  const perModel = cache.options.models[schema.name];
  const byName = (model: unknown) => (typeof model === 'string' ? cache.sequelize.models[model] : model);
  const models = [
    ...includedModels(options.include),
    ...((cacheOption as { dependsOn?: unknown[] }).dependsOn ?? []).map(byName),
    ...((perModel && perModel.dependsOn) || []).map(byName),
  ];
  if (sql.length > 0) {
    const read = literalModels(cache, sql);
    if (!read) return undefined;
    models.push(...read);
  }
  const schemas: ModelSchema[] = [];
  for (const model of models) {
    const other = cache.schemaOf(model);
    if (!other) return undefined;
    if (other !== schema && !schemas.includes(other)) schemas.push(other);
  }
  return schemas;
}

/** The models of every table literal SQL text reads; undefined when it reads a table no model stores. */
function literalModels(cache: OrmCache, sql: readonly string[]): unknown[] | undefined {
  const byTable = modelsByTable(cache.sequelize.models);
  const models: unknown[] = [];
  for (const text of sql) {
    const tables = tablesRead(text, [...byTable.keys()]);
    if (!tables) return undefined;
    for (const table of tables) models.push(...(byTable.get(table) ?? []));
  }
  return models;
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

/**
 * The select wrapper: primary-key reads from the row cache, include-free
 * queries as pointer lists, includes as pointer trees, other shapes as whole
 * values; transactions, `cache: false` and unknown shapes go straight through.
 */
export function cachedSelect(cache: OrmCache, original: SelectFn): SelectFn {
  return async function select(this: unknown, model, tableName, options) {
    const direct = (opts: SelectOptions) => original.call(this, model, tableName, opts);
    if (options?.cache !== undefined) checkCacheOption(model.name, options.cache, cache.sequelize.models);
    const forgetting = typeof options?.cache === 'object' && options.cache !== null && FORGET in options.cache;
    if (forgetting) {
      await forgetEntry(cache, model, tableName, options);
      throw new Forgotten();
    }
    const schema = cache.schemaOf(model);
    if (!schema || !options || options.cache === false) return direct(options);
    const how = plan(cache, schema, options);
    const kind = how?.kind === 'row' ? 'row' : 'list';
    const bypass = () => {
      cache.metrics.model(schema.name)[kind].bypassed++;
      return direct(options);
    };
    if (!how || currentTransaction(cache.sequelize, options) || cache.suspended) return bypass();
    if (cache.excluding && mentionsExcluded(schema, options, (m) => cache.schemaOf(m))) return bypass();
    const entry = how.kind === 'row' ? undefined : entryPlan(cache, schema, tableName, options, how);
    if (how.kind !== 'row' && !entry) return bypass();
    const meter = cache.metrics.meter(schema.name, kind);
    // Every statement a cached read runs is counted (dbQueries, and the
    // request's Server-Timing): misses, rows a list lacked, refreshes.
    // Every statement of a cached read goes to the primary (`useMaster`):
    // its result is stored, and a lagging replica would store the row as it
    // was before a write that has already returned (and invalidated). Hits
    // never reach the database at all.
    const selectFor = (other: ModelStatic<Model>) => (opts: SelectOptions) => {
      meter.query();
      return original.call(this, other, (other as unknown as { getTableName(): unknown }).getTableName(), { ...opts, useMaster: true });
    };
    const run = selectFor(model);
    const ttl = queryTtl(options) ?? cache.ttlFor(schema);
    try {
      if (how.kind === 'row') return await rowSelect(cache, meter, run, model, schema, options, how, ttl);
      const list = entry as ListPlan;
      if (how.kind === 'whole') return await wholeSelect(cache, meter, run, model, options, list, ttl);
      if (how.kind === 'tree') return await treeSelect(cache, meter, selectFor, model, schema, options, how, list, ttl);
      return await listSelect(cache, meter, run, model, schema, options, how.columns, list, ttl);
    } finally {
      meter.done();
    }
  };
}

/** The entry of a list, tree or whole read; undefined when the query cannot be keyed. */
function entryPlan(cache: OrmCache, schema: ModelSchema, tableName: unknown, options: SelectOptions, how: Exclude<Plan, RowPlan>): ListPlan | undefined {
  const sql: string[] = [];
  const hash = listHash(tableName, options, how, sql);
  const others = hash === undefined ? undefined : otherSchemas(cache, schema, options, sql);
  if (hash === undefined || others === undefined) return undefined;
  const loose = how.kind === 'tree' ? trackedByRelations(how.includes) : new Set<ModelSchema>();
  return cache.lists.plan(
    schema,
    hash,
    conjunctionOf(schema, options.where),
    others.filter((o) => !loose.has(o)),
    others.filter((o) => loose.has(o)),
  );
}

/**
 * A primary-key read from the row cache, with in-process single-flight like
 * entries: identical concurrent reads of one row share one lookup (and one
 * fill). The flight key carries the exact key values, since string keys are
 * looked up case-folded and another spelling may be another row.
 */
function rowSelect(
  cache: OrmCache,
  meter: ReadMeter,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  how: RowPlan,
  ttl: number,
): Promise<unknown> {
  const exact = how.where.values.every((v) => typeof v === 'number' || typeof v === 'bigint') ? '' : JSON.stringify(how.where.values);
  return aboard<RowMaterial>(
    cache,
    meter,
    `${cache.keys.row(schema, how.where.pkText)} ${exact}`,
    options,
    (report) => rowCycle(cache, meter, run, schema, options, how, ttl, report),
    (material) => buildResult(model, options, how.columns, visible(schema, how, material.row ?? undefined)),
  );
}

/** A row read's material: the full raw row, or null for "no such row". */
type RowMaterial = { row: Record<string, unknown> | null };

/** Look the row up; on a miss, one reader fills it and the others wait for that fill. */
async function rowCycle(
  cache: OrmCache,
  meter: ReadMeter,
  run: (options: SelectOptions) => Promise<unknown>,
  schema: ModelSchema,
  options: SelectOptions,
  how: RowPlan,
  ttl: number,
  report: Report,
): Promise<Outcome<RowMaterial>> {
  const count = counter(meter, report);
  const served = (row: Record<string, unknown> | undefined) => {
    const material = { row: row ?? null };
    report(undefined, { value: material });
    return { material };
  };
  const { pkText, values } = how.where;
  // "No such row" is recorded only for integer keys: a string key is looked
  // up case-folded, and under a binary collation an absent spelling says
  // nothing about another one.
  const absences = schema.primaryKeys.every((a) => a.keyKind === 'integer');
  let known: Map<string, string> | undefined;
  if (!refreshRequested(options)) {
    const lookup = await cache.rows.lookup(schema, [pkText], absences);
    const row = lookup.rows.get(pkText);
    if (row) {
      if (!exactKey(schema, row, values)) {
        // Another spelling of a string key: not this read's entry.
        count('misses');
        return { answer: await run(options) };
      }
      count('hits');
      return served(row);
    }
    if (lookup.absent.has(pkText)) {
      count('hits');
      return served(undefined);
    }
    if (!lookup.ok) {
      // The store is failing: skip the fill's extra round trips entirely.
      count('misses');
      return { answer: await run(options) };
    }
    known = lookup.fetched;
  }
  // A cold row: one reader fills it, the others wait for that fill.
  const lock =
    refreshRequested(options) || !cache.options.stampedeProtection
      ? 'unavailable'
      : await cache.locks.acquire(cache.keys.row(schema, pkText), meter.counters);
  const release = typeof lock === 'function' ? lock : undefined;
  if (lock !== 'unavailable') {
    const poll = async (): Promise<{ row: Record<string, unknown> | undefined } | undefined> => {
      const again = await cache.rows.lookup(schema, [pkText], absences);
      const row = again.rows.get(pkText);
      if (row && exactKey(schema, row, values)) return { row };
      if (again.absent.has(pkText)) return { row: undefined };
      if (again.ok) known = again.fetched;
      return undefined;
    };
    // Unlike a list, a row's holder does not look again before its query: a
    // primary-key read costs less than the extra round trip, and a fill that
    // landed meanwhile only makes this one's `add` fail.
    const filled = release ? undefined : await cache.locks.wait(cache.keys.row(schema, pkText), poll, meter.counters);
    if (filled) {
      await release?.();
      count('hits');
      return served(filled.row);
    }
  }
  count('misses');
  try {
    const ticket = await cache.rows.beginFill(schema, pkText, known, absences);
    const fetched = (await run(fullRowOptions(schema, options, how.where))) as Record<string, unknown>[];
    const row = fetched[0];
    // The database matched this row to the query (a case-insensitive collation
    // may return another spelling of the key), so it is the right answer here.
    const outcome = served(row);
    if (ticket) await (row ? cache.rows.completeFill(ticket, row, ttl) : cache.rows.completeAbsence(ticket, ttl));
    return outcome;
  } finally {
    await release?.();
  }
}

function queryTtl(options: SelectOptions): number | undefined {
  const ttl = typeof options.cache === 'object' && options.cache !== null ? options.cache.ttl : undefined;
  return typeof ttl === 'number' && Number.isInteger(ttl) && ttl > 0 ? ttl : undefined;
}

/** Whether a row has one of the value tuples a list's equality conditions allow. */
function meetsConjunction(schema: ModelSchema, conjunction: Conjunction, row: Record<string, unknown>): boolean {
  if (conjunction.scheme.length === 0) return true;
  const texts = conjunction.scheme.map((field) => conditionText(schema.byName.get(field) as AttributeInfo, row[field]));
  return conjunction.tuples.some((tuple) => tuple.every((text, i) => text === texts[i]));
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
  meter: ReadMeter,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  columns: Column[],
  plan: ListPlan,
  ttl: number,
): Promise<unknown> {
  const startedAt = cache.options.clock.now();
  let refreshTickets: Map<string, FillTicket> | undefined;
  return throughEntry(cache, meter, plan, options, {
    beforeRead: refreshRequested(options)
      ? async () => {
          refreshTickets = await refreshTicketsFor(cache, schema, plan);
        }
      : undefined,
    hit: async (lookup) => {
      if (!lookup.pks) return undefined;
      const rows = await rowsOfList(cache, run, model, schema, options, lookup.pks);
      if (!rows) return 'rebuild';
      // A row that no longer meets the list's equality conditions was written
      // between the list's and the rows' lookups; that write is invalidating
      // the list, so read the database rather than return a mix of both.
      return rows.every((row) => meetsConjunction(schema, plan.conjunction, row)) ? { material: rows } : undefined;
    },
    direct: () => run(options),
    read: async () => (await run(fullListOptions(schema, options))) as Record<string, unknown>[],
    save: async (tokens, rows, soft, marks) => {
      const pks = rows.map((row) => pkValuesOf(schema, row));
      if (!pks.every((pk) => primaryKeyText(schema, pk) !== undefined)) return;
      // The row tokens (namespace, row epoch) lead the list's tokens and were
      // read before the database read, as a row fill requires.
      const generation = marks.get(cache.keys.writes(schema))?.generation;
      await replaceRows(cache, schema, options, { schema, tokens: tokens.slice(0, 2), startedAt, generation }, rows, refreshTickets);
      await cache.lists.save(plan, tokens, pks, ttl, soft);
    },
    material: (rows) => rows,
    answer: (rows) => buildResult(model, options, columns, rows),
  });
}

/**
 * Put the full rows a list or tree query read into the row cache. Warming
 * is not awaited: the answer does not need it, and a warm row never replaces
 * a row entry, only tombstones of writes that had finished before the query
 * (RowCache.warm). After `cache: { refresh: true }` the rows cached may be
 * older than what the refresh read (changed behind the cache's back): they
 * are replaced by the fill protocol where the refresh began their fills, and
 * tombstoned otherwise (RowCache.refreshed).
 */
async function replaceRows(
  cache: OrmCache,
  schema: ModelSchema,
  options: SelectOptions,
  ticket: WarmTicket,
  rows: Record<string, unknown>[],
  refreshTickets: ReadonlyMap<string, FillTicket> = new Map(),
): Promise<void> {
  const keyed = rows.map((row) => [rowKeyText(schema, row) as string, row] as const);
  if (refreshRequested(options)) return cache.rows.refreshed(refreshTickets, ticket, keyed, cache.ttlFor(schema));
  cache.later(cache.rows.warm(ticket, keyed.slice(0, cache.options.warmLimit), cache.ttlFor(schema)));
}

/**
 * Before a refresh's database read: begin the fills of the rows the current
 * entry points to (the rows it will most likely read again), so that they
 * can be replaced by the fill protocol afterwards.
 */
async function refreshTicketsFor(cache: OrmCache, schema: ModelSchema, plan: ListPlan): Promise<Map<string, FillTicket>> {
  const current = await cache.lists.lookup(plan);
  const texts = (current.pks ?? []).map((pk) => primaryKeyText(schema, pk)).filter((t): t is string => t !== undefined);
  if (texts.length === 0) return new Map();
  const rows = await cache.rows.lookup(schema, texts);
  if (!rows.ok) return new Map();
  const tickets = await Promise.all(texts.map(async (text) => [text, await cache.rows.beginFill(schema, text, rows.fetched)] as const));
  return new Map(tickets.filter((entry): entry is readonly [string, FillTicket] => entry[1] !== undefined));
}

/**
 * What a valid entry gives: the material its answer is built from; undefined
 * to read the database; 'rebuild' when the entry points at rows that no
 * longer exist (already reported).
 */
type Hit<M> = { material: M } | 'rebuild' | undefined;

/** One list-like entry's cache-aside cycle, in the order its correctness needs. */
interface EntryCycle<R, M> {
  /** The material of a valid entry (see {@link Hit}). */
  hit(lookup: ListLookup): Promise<Hit<M>> | Hit<M>;
  /** The query as asked, when the store is not answering. */
  direct(): Promise<unknown>;
  /** Work that must happen after the tokens are taken and before the database read. */
  beforeRead?(): Promise<void>;
  /** The database read of a miss. */
  read(): Promise<R>;
  /** Store what was read, under the tokens taken before the read. */
  save(tokens: string[], read: R, soft: SoftExpiry, marks: Map<string, MarkReading>): Promise<unknown>;
  /** The material of a database read (the same shape a hit gives). */
  material(read: R): M;
  /** The caller's answer, built from material it owns. */
  answer(material: M): unknown;
}

/** The end of one cycle: material to build from (and share), or a finished answer (not shareable). */
type Outcome<M> = { material: M } | { answer: unknown };

/**
 * One entry read with in-process single-flight: identical concurrent reads
 * board one flight (stampede/single-flight.ts) and build their answers from
 * copies of its material. Without stampede protection, and for
 * `cache: { refresh: true }`, every read runs its own cycle.
 */
async function throughEntry<R, M>(
  cache: OrmCache,
  meter: ReadMeter,
  plan: ListPlan,
  options: SelectOptions,
  cycle: EntryCycle<R, M>,
): Promise<unknown> {
  return aboard(
    cache,
    meter,
    plan.entryKey,
    options,
    (report) => entryCycle(cache, meter, plan, options, cycle, report),
    (m) => cycle.answer(m),
  );
}

/**
 * Run `own` as the leader of a flight for `key`, or board the flight waiting
 * to start and build the answer from a copy of its material; a passenger
 * whose flight shared nothing runs `own` alone.
 */
async function aboard<M>(
  cache: OrmCache,
  meter: ReadMeter,
  key: string,
  options: SelectOptions,
  own: (report: Report) => Promise<Outcome<M>>,
  build: (material: M) => unknown,
): Promise<unknown> {
  const answer = (outcome: Outcome<M>) => ('material' in outcome ? build(outcome.material) : outcome.answer);
  if (!cache.options.stampedeProtection || refreshRequested(options)) return answer(await own(() => undefined));
  const seat = cache.flights.board(key);
  if (seat.role === 'passenger') {
    const result = await seat.result;
    const copy = SingleFlight.copy(result);
    if (result === 'retry' || !copy) return answer(await own(() => undefined));
    meter.count('coalesced');
    for (const name of result.counters) meter.count(name);
    return build(copy.value as M);
  }
  await seat.ready;
  try {
    const counters: ReadCounter[] = [];
    return answer(
      await own((name, material) => {
        if (name) counters.push(name);
        if (material) seat.share(material.value, counters);
      }),
    );
  } finally {
    seat.land();
  }
}

/**
 * How a cycle reports to its flight: each per-read counter it adds, and the
 * material as soon as it has it (before storing it: passengers need not wait
 * for the store).
 */
type Report = (counter: ReadCounter | undefined, material?: { value: unknown }) => void;

/** Count a per-read metric here and report it to the read's flight. */
function counter(meter: ReadMeter, report: Report): (name: ReadCounter) => void {
  return (name) => {
    meter.count(name);
    report(name);
  };
}

/**
 * Look up (unless `cache: { refresh: true }`), serve a valid entry; else
 * register and read the tokens, then read the database, then store. Tokens
 * must be taken before the database read: a write between the two rotates
 * one of them, so the stored entry can never validate.
 */
async function entryCycle<R, M>(
  cache: OrmCache,
  meter: ReadMeter,
  plan: ListPlan,
  options: SelectOptions,
  cycle: EntryCycle<R, M>,
  report: Report,
): Promise<Outcome<M>> {
  const count = counter(meter, report);
  const served = (material: M) => {
    report(undefined, { value: material });
    return { material };
  };
  let fetched = new Map<string, string>();
  let release: (() => Promise<void>) | undefined;
  if (!refreshRequested(options)) {
    const lookup = await cache.lists.lookup(plan);
    if (!lookup.ok) {
      count('misses');
      return { answer: await cycle.direct() };
    }
    const protection = cache.options.stampedeProtection;
    // Without protection a soft-expired entry is simply expired: a miss.
    const expired = !protection && lookup.soft !== undefined && cache.options.clock.now() >= lookup.soft.softExpiresAt;
    const hit = expired ? undefined : await cycle.hit(lookup);
    if (hit && hit !== 'rebuild') {
      count('hits');
      if (protection && lookup.soft && cache.stampede.due(lookup.soft)) {
        const refill = async () => (await fill(cache, plan, options, cycle, lookup.fetched, () => undefined)).material;
        const fresh = await cache.stampede.refresh(plan.entryKey, lookup.soft, refill, meter.counters);
        if (fresh.refreshed) return served(fresh.answer);
        if (fresh.stale) count('staleServed');
      }
      return served(hit.material);
    }
    fetched = lookup.fetched;
    if (hit !== 'rebuild' && protection) {
      // A cold or invalidated entry: one reader fills it, the others wait for
      // that fill (stampede protection). Stale data is never served here.
      const lock = await cache.locks.acquire(plan.entryKey, meter.counters);
      release = typeof lock === 'function' ? lock : undefined;
      const poll = async (): Promise<Hit<M>> => {
        const again = await cache.lists.lookup(plan);
        if (!again.ok) return undefined;
        const found = await cycle.hit(again);
        if (!found) fetched = again.fetched;
        return found;
      };
      // The lock holder re-checks once: the previous holder may have filled the
      // entry between this reader's lookup and its lock.
      const filled =
        lock === 'unavailable' ? undefined : release ? await poll() : await cache.locks.wait(plan.entryKey, poll, meter.counters);
      if (filled && filled !== 'rebuild') {
        await release?.();
        count('hits');
        return served(filled.material);
      }
    }
  }
  count('misses');
  try {
    return await fill(cache, plan, options, cycle, fetched, report);
  } finally {
    await release?.();
  }
}

/**
 * Take the tokens, read the database, report the material, store the entry
 * with its soft expiry.
 */
async function fill<R, M>(
  cache: OrmCache,
  plan: ListPlan,
  options: SelectOptions,
  cycle: EntryCycle<R, M>,
  fetched: Map<string, string>,
  report: Report,
): Promise<{ material: M }> {
  const prepared = await cache.lists.prepare(plan, fetched);
  await cycle.beforeRead?.();
  const clock = cache.options.clock;
  const started = clock.now();
  const read = await cycle.read();
  const material = cycle.material(read);
  report(undefined, { value: material });
  const now = clock.now();
  const soft = { softExpiresAt: now + softTtlFor(cache, plan.schema, options) * 1000, delta: now - started };
  if (prepared) await cycle.save(prepared.tokens, read, soft, prepared.marks);
  return { material };
}

/** Soft TTL of an entry: per query, else per model, else global; in seconds. */
function softTtlFor(cache: OrmCache, schema: ModelSchema, options: SelectOptions): number {
  const perQuery = typeof options.cache === 'object' && options.cache !== null ? options.cache.softTtl : undefined;
  if (typeof perQuery === 'number' && perQuery > 0) return perQuery;
  const perModel = cache.options.models[schema.name];
  return (perModel && perModel.softTtl) || cache.options.softTtl;
}

/**
 * The rows a valid list points to, in its order: from the row cache, then
 * the missing ones from the database (filled race-free). `undefined` when a
 * pointed-to row no longer exists: the list is stale behind the cache's back
 * and must be rebuilt (django-orm-cache's InvalidationWarning).
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
    // With the store failing, fetch the rows but attempt no fills: each would
    // cost more failing store operations (and deadlines) for nothing.
    const unmarked = lookup.ok ? cache.rows.unmarked(schema) : undefined;
    const tickets = new Map(
      lookup.ok
        ? await Promise.all(unique.map(async (text) => [text, await cache.rows.beginFill(schema, text, lookup.fetched, false, unmarked)] as const))
        : [],
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

/** The query's Query class (for `_groupJoinData`), reached through the instance. */
type GroupJoin = (rows: unknown[], include: Record<string, unknown>, options: Record<string, unknown>) => Record<string, unknown>[];

/** Sequelize's grouping of flat joined rows into nested objects (what handleSelectQuery does). */
function groupJoin(cache: OrmCache, model: ModelStatic<Model>, options: SelectOptions, rows: Record<string, unknown>[]) {
  const Query = (cache.sequelize as unknown as { dialect: { Query: { _groupJoinData: GroupJoin } } }).dialect.Query;
  return Query._groupJoinData(
    rows,
    { model, includeMap: options.includeMap, includeNames: options.includeNames },
    { checkExisting: options.hasMultiAssociation },
  );
}

/** Instances from nested objects, as handleSelectQuery builds them. */
function buildNested(model: ModelStatic<Model>, options: SelectOptions, nested: Record<string, unknown>[]): unknown {
  const result = (model as unknown as Builder).bulkBuild(nested, {
    isNewRecord: false,
    include: options.include,
    includeNames: options.includeNames,
    includeMap: options.includeMap,
    includeValidated: true,
    attributes: options.originalAttributes ?? options.attributes,
    raw: true,
  });
  return options.plain ? (result[0] ?? null) : result;
}

/** What handleSelectQuery builds from flat joined rows: the same calls, so the same include shape. */
function buildFromFlat(cache: OrmCache, model: ModelStatic<Model>, options: SelectOptions, rows: Record<string, unknown>[]): unknown {
  if (options.hasJoin === true && !options.raw) return buildNested(model, options, groupJoin(cache, model, options, rows));
  const result = options.raw
    ? rows
    : (model as unknown as Builder).bulkBuild(rows, { isNewRecord: false, raw: true, attributes: options.originalAttributes ?? options.attributes });
  return options.plain ? (result[0] ?? null) : result;
}

/**
 * Serve a query that pointers cannot represent (joins, grouping, computed
 * columns) from one whole-value entry of its flat rows, which depends on every
 * model it reads; built into instances exactly as Sequelize builds them.
 */
async function wholeSelect(
  cache: OrmCache,
  meter: ReadMeter,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  options: SelectOptions,
  plan: ListPlan,
  ttl: number,
): Promise<unknown> {
  return throughEntry(cache, meter, plan, options, {
    hit: (lookup) =>
      lookup.whole.found && Array.isArray(lookup.whole.value) ? { material: lookup.whole.value as Record<string, unknown>[] } : undefined,
    direct: () => run(options),
    read: async () => (await run({ ...options, raw: true, plain: false, nest: false })) as Record<string, unknown>[],
    save: (tokens, rows, soft) => cache.lists.saveWhole(plan, tokens, rows, ttl, soft),
    material: (rows) => rows,
    answer: (rows) => buildFromFlat(cache, model, options, rows),
  });
}

/**
 * Serve a query with includes from a pointer tree: one multi-get per model
 * for the rows, one `WHERE pk IN (…)` per model for rows missing from the
 * cache, and the nested objects Sequelize's grouping would have made.
 */
async function treeSelect(
  cache: OrmCache,
  meter: ReadMeter,
  selectFor: (model: ModelStatic<Model>) => (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  how: TreePlan,
  plan: ListPlan,
  ttl: number,
): Promise<unknown> {
  const startedAt = cache.options.clock.now();
  const run = selectFor(model);
  // The IN queries of missing rows take nothing from the tree query but its logging.
  const base: SelectOptions = { logging: options.logging, benchmark: options.benchmark };
  const relations = relationsOf(how.includes);
  const everyWrite = [...new Set(relations.map((r) => cache.keys.conjunction(r.schema, conjunctionId([], []))))];
  // Filled before the database read of a miss: the registries' tokens, and
  // the "every write" tokens of the relation models, to check afterwards that
  // no write of theirs slipped between the read and the relation tokens.
  let registered: Map<string, string> | undefined;
  let before: Map<string, string> | undefined;
  return throughEntry(cache, meter, plan, options, {
    hit: async (lookup) => {
      const value = lookup.whole.found ? (lookup.whole.value as { tree?: unknown; rel?: unknown }) : undefined;
      if (!value || !Array.isArray(value.tree) || !Array.isArray(value.rel)) return undefined;
      let keys: Map<ModelSchema, PkValues[]>;
      try {
        keys = treeKeys(schema, value.tree, how.includes);
      } catch {
        return undefined;
      }
      const recorded = value.rel as [string, string][];
      const models = new Map<ModelSchema, ModelStatic<Model>>([[schema, model], ...modelsOf(how.includes)]);
      const index: RowIndex = new Map();
      const [current, ...complete] = await Promise.all([
        cache.lists.tokenValues(recorded.map(([k]) => k), false),
        ...[...keys].map(async ([s, pks]) => {
          const m = models.get(s) as ModelStatic<Model>;
          const rows = await rowsOfList(cache, selectFor(m), m, s, base, pks);
          if (rows) index.set(s, new Map(rows.map((row, i) => [primaryKeyText(s, pks[i] as PkValues) as string, row])));
          return rows !== undefined;
        }),
      ]);
      if (!current || !recorded.every(([k, v]) => current.get(k) === v)) return undefined;
      if (!complete.every(Boolean)) return 'rebuild';
      const material = rebuildTree(schema, how.columns, value.tree, how.includes, index);
      return material ? { material } : undefined;
    },
    direct: () => run(options),
    beforeRead: async () => {
      registered = new Map();
      for (const relation of relations) {
        const token = await cache.lists.register(relation.schema, [relation.field]);
        if (token === undefined) {
          registered = undefined;
          return;
        }
        registered.set(cache.keys.registry(relation.schema), token);
      }
      before = await cache.lists.tokenValues(everyWrite, true);
    },
    read: async () => (await run({ ...options, raw: true, plain: false, nest: false })) as Record<string, unknown>[],
    save: async (tokens, flat, soft, marks) => {
      const grouped = groupJoin(cache, model, options, flat);
      const encoded = encodeTree(schema, grouped, how.includes);
      const relationKeySet = relationKeys(cache, how.includes, grouped);
      if (!encoded || !relationKeySet || !registered || !before) return;
      const relationTokens = await cache.lists.tokenValues([...relationKeySet], true);
      const after = await cache.lists.tokenValues(everyWrite, false);
      // A write of a relation model between the database read and the
      // relation tokens read above would make the tree stale under current
      // tokens; it shows as a changed "every write" token: store nothing.
      if (!relationTokens || !after || everyWrite.some((k) => before?.get(k) !== after.get(k))) return;
      const rel = [...relationTokens, ...registered];
      await cache.lists.saveWhole(plan, tokens, { tree: encoded.tree, rel }, ttl, soft);
      for (const [s, rows] of encoded.rows) {
        // Each model's row tokens were read with the entry's, before the database read.
        const at = (key: string) => tokens[plan.dependencyKeys.indexOf(key)];
        const rowTokens = [at(cache.keys.namespaceToken()), at(cache.keys.epoch(s))];
        if (rowTokens.some((t) => t === undefined)) continue;
        const generation = marks.get(cache.keys.writes(s))?.generation;
        await replaceRows(cache, s, options, { schema: s, tokens: rowTokens as string[], startedAt, generation }, rows);
      }
    },
    material: (flat) => groupJoin(cache, model, options, flat),
    answer: (nested) => buildNested(model, options, nested),
  });
}

/**
 * Included models whose changes the tree's relation tokens and row entries
 * track, so that only writes of unknown rows (their epochs) must invalidate
 * the whole entry: models of includes that do not filter, and are not also
 * included somewhere that does.
 */
function trackedByRelations(includes: IncludeInfo[]): Set<ModelSchema> {
  const loose = new Set<ModelSchema>();
  const strict = new Set<ModelSchema>();
  const walk = (level: IncludeInfo[]) => {
    for (const include of level) {
      const target = include.filters ? strict : loose;
      target.add(include.schema);
      if (include.through) target.add(include.through.schema);
      walk(include.children);
    }
  };
  walk(includes);
  for (const schema of strict) loose.delete(schema);
  return loose;
}

/** Schema → model of every model of an include tree (through models too). */
function modelsOf(includes: IncludeInfo[], into = new Map<ModelSchema, ModelStatic<Model>>()) {
  for (const include of includes) {
    into.set(include.schema, include.model);
    if (include.through) into.set(include.through.schema, include.through.model);
    modelsOf(include.children, into);
  }
  return into;
}

/** `cache.forget()`: drop the entry this select would use, without SQL. */
async function forgetEntry(cache: OrmCache, model: ModelStatic<Model>, tableName: unknown, options: SelectOptions): Promise<void> {
  const schema = cache.schemaOf(model);
  if (!schema) return;
  const how = plan(cache, schema, options);
  if (!how) return;
  cache.metrics.invalidated(schema.name, 'manual');
  if (how.kind === 'row') {
    // A tombstone, not a delete: deleting would reopen the race a write's
    // tombstone closes (a slow filler's `add` would succeed again).
    await cache.rows.tombstone(schema, [how.where.pkText]);
    return;
  }
  const sql: string[] = [];
  const hash = listHash(tableName, options, how, sql);
  const others = hash === undefined ? undefined : otherSchemas(cache, schema, options, sql);
  if (hash === undefined || others === undefined) return;
  await cache.lists.forget(cache.lists.plan(schema, hash, conjunctionOf(schema, options.where), others));
}

export type RawSelectFn = (tableName: unknown, options: SelectOptions, attributeSelector: unknown, model: ModelStatic<Model>) => Promise<unknown>;

const RAW_SELECT_KEYS = new Set([
  ...WHOLE_KEYS, 'distinct', 'col', 'dataType', 'aggregateFunction',
]);

/**
 * count / aggregate / findAndCountAll's count: `queryInterface.rawSelect`,
 * cached as whole values with the same dependencies as a list of the model
 * (plus included models).
 */
export function cachedRawSelect(cache: OrmCache, original: RawSelectFn): RawSelectFn {
  return async function rawSelect(this: unknown, tableName, options, attributeSelector, model) {
    const direct = () => original.call(this, tableName, options, attributeSelector, model);
    if (options?.cache !== undefined) checkCacheOption(model?.name, options.cache, cache.sequelize.models);
    const schema = cache.schemaOf(model);
    if (!schema || !options || options.cache === false) return direct();
    const allowed = Object.keys(options).every((k) => RAW_SELECT_KEYS.has(k) || options[k] === undefined || options[k] === false);
    if (!allowed || currentTransaction(cache.sequelize, options) || cache.suspended || (cache.excluding && mentionsExcluded(schema, options, (m) => cache.schemaOf(m), [attributeSelector]))) {
      cache.metrics.model(schema.name).count.bypassed++;
      return direct();
    }
    const sql: string[] = [];
    const dataType = options.dataType as { key?: unknown; toString?: () => string } | undefined;
    const text = canonical([
      'aggregate',
      tableName,
      attributeSelector,
      options.where,
      includeShape(options.include),
      options.group,
      options.having,
      options.attributes,
      options.distinct,
      options.col,
      !!options.plain,
      options.limit ?? null,
      options.offset ?? null,
      options.order,
      typeof dataType?.key === 'string' ? dataType.key : null,
      options.replacements,
      options.bind,
    ], sql);
    const hash = customKey(options) ?? (text === undefined ? undefined : digest(text));
    const others = hash === undefined ? undefined : otherSchemas(cache, schema, options, sql);
    if (hash === undefined || others === undefined) {
      cache.metrics.model(schema.name).count.bypassed++;
      return direct();
    }
    const plan = cache.lists.plan(schema, hash, conjunctionOf(schema, options.where), others);
    const meter = cache.metrics.meter(schema.name, 'count');
    const run = () => {
      meter.query();
      // From the primary, as for selects: the result is stored.
      return original.call(this, tableName, { ...options, useMaster: true }, attributeSelector, model);
    };
    try {
      return await countThroughEntry(cache, meter, run, schema, options, plan);
    } finally {
      meter.done();
    }
  };
}

/** A count or aggregate from its whole-value entry. */
function countThroughEntry(
  cache: OrmCache,
  meter: ReadMeter,
  run: () => Promise<unknown>,
  schema: ModelSchema,
  options: SelectOptions,
  plan: ListPlan,
): Promise<unknown> {
  return throughEntry(cache, meter, plan, options, {
    hit: (lookup) => (lookup.whole.found ? { material: lookup.whole.value } : undefined),
    direct: run,
    read: run,
    save: (tokens, value, soft) => cache.lists.saveWhole(plan, tokens, value, queryTtl(options) ?? cache.ttlFor(schema), soft),
    material: (value) => value,
    answer: (value) => value,
  });
}
