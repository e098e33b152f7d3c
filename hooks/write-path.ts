/**
 * Invalidation on writes, at the query interface: every ORM write reaches the
 * database through one of its methods (insert, update, delete, bulkInsert,
 * bulkUpdate, bulkDelete, upsert, increment, decrement), whatever hooks the
 * app runs, removes or replaces, and so do the calls migrations and seeders
 * make directly. Each wrapper invalidates after the statement returned and
 * before the call resolves, so a read that starts after the write returns
 * sees it; inside a transaction the work moves to the commit
 * (docs/transparency.md). Every other statement through
 * `sequelize.query` (raw SQL, DDL) is recognised from its text.
 *
 * A write whose rows and values are known (instance writes, inserts, bulk
 * writes selected first inside a transaction) tombstones those rows and
 * rotates the conjunction tokens of their old and new values; one whose rows
 * are known by key only tombstones them and rotates the list epoch; one whose
 * rows cannot be known (bulk writes by other conditions, upserts on unique
 * keys, raw SQL) rotates the model epoch. Deletes and key changes also
 * invalidate the models the database cascades to.
 *
 * Tables, not `options.model`, decide which models are invalidated: a call
 * that names another model, or none, still invalidates every cached model
 * stored in the table it writes.
 */
import type { Model } from 'sequelize';
import { rowKeyText } from '../source/keys';
import type { ModelSchema } from '../source/model-schema';
import type { InvalidationCause } from '../source/metrics';
import type { OrmCache } from './orm-cache';
import { statementWrites } from './raw-sql';
import { modelsByTable, tableOf } from './tables';
import { currentTransaction } from './transactions';
import { rowsOfWhere } from './where';

type Options = Record<string, unknown> & { transaction?: unknown; where?: unknown };
type Instance = Model & { _previousDataValues?: Record<string, unknown> };

/** Key texts of an instance's row, before and after the write (a primary key can change). */
function instanceKeys(schema: ModelSchema, instance: Instance): string[] | undefined {
  const now = rowKeyText(schema, instance.dataValues as Record<string, unknown>);
  if (now === undefined) return undefined;
  const before = instance._previousDataValues ? rowKeyText(schema, instance._previousDataValues) : undefined;
  return before !== undefined && before !== now ? [now, before] : [now];
}

/**
 * The row's values after the write and, unless it was just inserted, before
 * it: lists it leaves and lists it enters are both invalidated. (Inside the
 * after-hooks `_previousDataValues` still holds the pre-write values; for an
 * insert it holds nothing useful, and there is no old row anyway.)
 */
function instanceVersions(schema: ModelSchema, instance: Instance, inserted: boolean): Record<string, unknown>[] {
  let current = instance.dataValues as Record<string, unknown>;
  // A new row of a paranoid model is inserted with deletedAt NULL, though the
  // instance may not carry the attribute at all.
  const paranoid = schema.paranoid?.name;
  if (inserted && paranoid && !(paranoid in current)) current = { ...current, [paranoid]: null };
  const versions = [current];
  if (!inserted && instance._previousDataValues) versions.push(instance._previousDataValues);
  return versions;
}

/**
 * Which of a write's two invalidations runs: before the statement (the
 * first) or after it (the last, the one counted in metrics), with the
 * write's generation in each model's write mark (source/write-marks.ts).
 */
export interface Moment {
  phase: 'before' | 'after';
  generations: ReadonlyMap<ModelSchema, number>;
}

/**
 * Invalidate an instance's row and lists (or the model when its key cannot
 * be named). Before an insert the row may have no key yet (the database
 * generates it): only the lists its values enter then.
 */
async function instanceChanged(
  cache: OrmCache,
  instance: Instance,
  options: Options,
  change: 'insert' | 'update' | 'delete',
  cause: InvalidationCause,
  at: Moment,
  failed: boolean,
): Promise<void> {
  const schema = cache.schemaOf(instance?.constructor);
  if (!schema) return;
  const versions = instanceVersions(schema, instance, change === 'insert');
  // A failed write's row may be half-known: the whole model then.
  const keys = failed ? undefined : instanceKeys(schema, instance);
  const run = (counted: boolean, generation: number | undefined) => {
    const why = counted ? cause : null;
    if (keys) return cache.rowsChanged(schema, keys, versions, why, generation);
    if (at.phase === 'before' && change === 'insert') return cache.rowsChanged(schema, [], versions, why);
    return cache.modelChanged(schema, why);
  };
  await cache.invalidateAfterWrite(options, schema, run, at);
}

/** Invalidate rows known only by key (values unknown), or the model when even the keys are unknown. */
async function keysChanged(cache: OrmCache, schema: ModelSchema, options: Options, keys: string[] | undefined, cause: InvalidationCause, at: Moment) {
  await cache.invalidateAfterWrite(
    options,
    schema,
    (counted, generation) =>
      keys ? cache.rowsChanged(schema, keys, undefined, counted ? cause : null, generation) : cache.modelChanged(schema, counted ? cause : null),
    at,
  );
}

const CASCADING = /^(CASCADE|SET NULL|SET DEFAULT)$/i;

type ModelMeta = {
  rawAttributes: Record<string, { references?: { model?: unknown }; onDelete?: unknown; onUpdate?: unknown; primaryKey?: boolean; field?: string }>;
  options: { paranoid?: boolean };
};


/**
 * Models whose rows the database itself changes when rows of `table` are
 * deleted or get a new key: foreign keys with ON DELETE / ON UPDATE CASCADE,
 * SET NULL or SET DEFAULT, followed transitively (authors → articles →
 * comments). No statement names those writes, so the referencing models
 * are invalidated whole.
 */
function cascadeTargets(cache: OrmCache, table: string | undefined): ModelSchema[] {
  if (!table) return [];
  const seen = new Set<string>([table]);
  const queue = [table];
  const targets: ModelSchema[] = [];
  while (queue.length > 0) {
    const parent = queue.shift() as string;
    for (const model of Object.values(cache.sequelize.models) as unknown as ModelMeta[]) {
      const references = Object.values(model.rawAttributes ?? {}).some((a) => {
        const target = a.references?.model;
        const name = typeof target === 'string' ? target : tableOf(target) ?? (target as { tableName?: string })?.tableName;
        return name === parent && (CASCADING.test(String(a.onDelete ?? '')) || CASCADING.test(String(a.onUpdate ?? '')));
      });
      const child = tableOf(model);
      if (!references || !child || seen.has(child)) continue;
      seen.add(child);
      queue.push(child);
      const schema = cache.schemaOf(model);
      if (schema) targets.push(schema);
    }
  }
  return targets;
}

/** Whether a write setting `columns` of `table` may change a primary key (and so cascade). */
function setsKey(cache: OrmCache, table: string | undefined, columns: readonly string[]): boolean {
  return modelsOfTable(cache, table).some((model) =>
    Object.entries((model as Partial<ModelMeta>).rawAttributes ?? {}).some(
      ([name, a]) => a.primaryKey && (columns.includes(name) || columns.includes(a.field ?? name)),
    ),
  );
}

/** Whether any attribute besides the primary key is unique: an upsert may then hit another row. */
function hasOtherUniqueKeys(model: unknown, schema: ModelSchema): boolean {
  const m = model as { uniqueKeys?: Record<string, unknown>; rawAttributes?: Record<string, { unique?: unknown; primaryKey?: boolean }> };
  if (m.uniqueKeys && Object.keys(m.uniqueKeys).length > 0) return true;
  return Object.values(m.rawAttributes ?? {}).some((a) => a.unique && !a.primaryKey) || schema.primaryKeys.length === 0;
}

/** Most rows a bulk write inside a transaction selects first to invalidate precisely. */
const PRECISE_LIMIT = 1000;

type Finder = { findAll(options: Record<string, unknown>): Promise<Record<string, unknown>[]> };

/**
 * Inside a transaction, select the rows a bulk update or delete will touch,
 * FOR UPDATE: the locks keep other transactions from changing which rows
 * match until the commit, so the write changes exactly these rows and only
 * their entries and their lists need invalidating. Outside a transaction
 * there is no such guarantee and the model is invalidated whole.
 */
async function selectAffected(cache: OrmCache, model: unknown, where: unknown, options: Options): Promise<Record<string, unknown>[] | undefined> {
  const transaction = currentTransaction(cache.sequelize, options);
  if (!transaction || options.truncate || !cache.schemaOf(model)) return undefined;
  const rows = await (model as Finder).findAll({
    where,
    transaction,
    lock: true,
    paranoid: false,
    raw: true,
    hooks: false,
    limit: PRECISE_LIMIT + 1,
    logging: options.logging,
  });
  return rows.length <= PRECISE_LIMIT ? rows : undefined;
}

/**
 * The attribute values a bulk update sets (given by column, as the query
 * interface gets them), or undefined when one is computed in SQL (literal,
 * fn, col) or names no attribute: the new rows are then not known here.
 */
function plainValues(schema: ModelSchema, values: unknown): Record<string, unknown> | undefined {
  if (!values || typeof values !== 'object') return undefined;
  const out: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(values)) {
    const attribute = schema.byField.get(column) ?? schema.byName.get(column);
    if (!attribute) return undefined;
    if (value !== null && !(value instanceof Date) && !Buffer.isBuffer(value) && typeof value === 'object') return undefined;
    out[attribute.name] = value;
  }
  return out;
}

/**
 * Invalidate precisely from the rows selected before a bulk write, if any;
 * `false` when there were none to go by.
 */
async function affectedChanged(
  cache: OrmCache,
  schema: ModelSchema,
  options: Options,
  rows: Record<string, unknown>[] | undefined,
  after: (row: Record<string, unknown>) => Record<string, unknown> | undefined,
  at: Moment,
): Promise<boolean> {
  if (!rows) return false;
  const keys = rows.map((row) => rowKeyText(schema, row));
  if (keys.some((k) => k === undefined)) return false;
  const newer = rows.map(after);
  const versions = newer.every((v) => v !== undefined) ? [...rows, ...(newer as Record<string, unknown>[])] : undefined;
  await cache.invalidateAfterWrite(options, schema, (counted, generation) => cache.rowsChanged(schema, keys as string[], versions, counted ? 'bulk' : null, generation), at);
  return true;
}

/** The table name of a query interface argument (`'t'` or `{ tableName: 't', schema }`). */
function tableName(table: unknown): string | undefined {
  if (typeof table === 'string') return table;
  const name = (table as { tableName?: unknown } | null)?.tableName;
  return typeof name === 'string' ? name : undefined;
}

/** Every model of the instance stored in `table`. */
function modelsOfTable(cache: OrmCache, table: string | undefined): unknown[] {
  return (table !== undefined && modelsByTable(cache.sequelize.models).get(table)) || [];
}

/** What the write's statement did: its result, or that it failed. */
type Outcome<T> = { value?: T; failed: boolean };

/**
 * Run `write` (the original query interface method) between two
 * invalidations, under the write marks of every model it can change.
 * `own` invalidates the model the write was made for, if it is stored in the
 * table written; every other cached model of that table is invalidated
 * whole, and with `cascades`, the models the database changes along.
 *
 * Why twice (Hibernate's read-write strategy marks entries before the write
 * and invalidates after, the same idea): the first invalidation, before the
 * statement, removes every entry read before the write, so nothing from
 * before it can be served once its statement has committed, not even in the
 * moment between the commit and the last invalidation (a caller that saw a
 * duplicate-key error from the committed row must not then read the old
 * list). The marks make readers that fill in between store nothing: their
 * database read may predate the commit. The last invalidation, after the
 * statement, uses what only the statement tells (generated keys) and is the
 * one counted in metrics. A failure counts as a write: a lost connection
 * does not prove that nothing was written. Inside a transaction both move to
 * its commit (hooks/transactions.ts).
 */
async function writing<T>(
  cache: OrmCache,
  table: unknown,
  options: Options,
  model: unknown,
  write: () => Promise<T>,
  own: (schema: ModelSchema, at: Moment, outcome: Outcome<T>) => Promise<void>,
  cause: InvalidationCause,
  cascades: boolean,
): Promise<T> {
  const name = tableName(table);
  const models = modelsOfTable(cache, name);
  const targets = cascades ? cascadeTargets(cache, name) : [];
  const invalidate = (at: Moment, outcome: Outcome<T>) =>
    Promise.all([
      ...models.map((m) => {
        const schema = cache.schemaOf(m);
        if (!schema) return undefined;
        if (m === model) return own(schema, at, outcome);
        return keysChanged(cache, schema, options, undefined, cause, at);
      }),
      ...targets.map((schema) => keysChanged(cache, schema, options, undefined, 'cascade', at)),
    ]);
  const schemas = [...models.map((m) => cache.schemaOf(m)).filter((s): s is ModelSchema => s !== undefined), ...targets];
  return cache.whileWriting(options, schemas, async (generations) => {
    await invalidate({ phase: 'before', generations }, { failed: false });
    let outcome: Outcome<T> = { failed: true };
    try {
      outcome = { value: await write(), failed: false };
      return outcome.value as T;
    } finally {
      await invalidate({ phase: 'after', generations }, outcome);
    }
  });
}

/** Statements the query interface wrappers send carry this, so the raw-SQL path leaves them alone. */
export const ORM_WRITE = Symbol('sequelize-orm-cache.write');

/** Options with the mark (the query interface copies its options with their symbols). */
function marked<O>(options: O): O {
  return { ...(options ?? {}), [ORM_WRITE]: true } as O;
}

type Fn = (...args: never[]) => Promise<unknown>;

/** The columns a write sets. */
const columnsOf = (values: unknown): string[] => (values && typeof values === 'object' ? Object.keys(values) : []);

/**
 * Wrappers of the query interface's write methods, by method name. Each
 * takes the original and returns the method to install in its place.
 */
export function writeWrappers(cache: OrmCache): Record<string, (original: Fn) => Fn> {
  const call = (original: Fn, self: unknown, args: unknown[]) => (original as (...a: unknown[]) => Promise<unknown>).apply(self, args);
  return {
    insert: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [instance, table, values, options = {}] = args as [Instance | null, unknown, unknown, Options];
        const write = () => call(original, this, [instance, table, values, marked(options)]);
        return writing(cache, table, options, instance?.constructor, write, (schema, at, r) =>
          instanceChanged(cache, instance as Instance, options, 'insert', 'save', at, r.failed), 'save', false);
      } as Fn,
    update: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [instance, table, values, where, options = {}] = args as [Instance, unknown, Record<string, unknown>, unknown, Options];
        // A paranoid destroy() saves deletedAt this way.
        const paranoid = cache.schemaOf(instance?.constructor)?.paranoid;
        const destroying = !!paranoid && values && values[paranoid.field] != null;
        const write = () => call(original, this, [instance, table, values, where, marked(options)]);
        return writing(cache, table, options, instance?.constructor, write, (schema, at, r) =>
          instanceChanged(cache, instance, options, 'update', destroying ? 'destroy' : 'save', at, r.failed), 'save',
          setsKey(cache, tableName(table), columnsOf(values)));
      } as Fn,
    delete: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [instance, table, where, options = {}] = args as [Instance, unknown, unknown, Options];
        const write = () => call(original, this, [instance, table, where, marked(options)]);
        return writing(cache, table, options, instance?.constructor, write, (schema, at, r) =>
          instanceChanged(cache, instance, options, 'delete', 'destroy', at, r.failed), 'destroy', true);
      } as Fn,
    bulkInsert: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [table, records, options = {}, attributes] = args as [unknown, Record<string, unknown>[], Options, unknown];
        const write = () => call(original, this, [table, records, marked(options), attributes]);
        return writing(cache, table, options, options.model, write, async (schema, at, r) => {
          // updateOnDuplicate / ignoreDuplicates touch rows found by any unique
          // key. Plain inserts change no cached row (a key that existed would
          // make the insert fail, and a deleted row's key was tombstoned by its
          // delete), but the new rows enter lists; before the statement their
          // generated keys are not known yet.
          const versions = !r.failed && !options.updateOnDuplicate && !options.ignoreDuplicates
            ? insertedRows(schema, records, at.phase === 'after' ? r.value : undefined)
            : undefined;
          if (versions) await cache.invalidateAfterWrite(options, schema, (counted) => cache.rowsChanged(schema, [], versions, counted ? 'bulk' : null), at);
          else await keysChanged(cache, schema, options, undefined, 'bulk', at);
        }, 'bulk', false);
      } as Fn,
    bulkUpdate: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [table, values, where, options = {}, attributes] = args as [unknown, unknown, unknown, Options, unknown];
        const model = modelsOfTable(cache, tableName(table)).includes(options.model) ? options.model : undefined;
        const before = model ? await selectAffected(cache, model, where, options) : undefined;
        const write = () => call(original, this, [table, values, where, marked(options), attributes]);
        return writing(cache, table, options, model, write, async (schema, at) => {
          const set = plainValues(schema, values);
          const precise = await affectedChanged(cache, schema, options, before, (row) => (set ? { ...row, ...set } : undefined), at);
          if (!precise) await keysChanged(cache, schema, options, rowsOfWhere(schema, where), 'bulk', at);
        }, 'bulk', setsKey(cache, tableName(table), columnsOf(values)));
      } as Fn,
    bulkDelete: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [table, where, options = {}, modelArg] = args as [unknown, unknown, Options, unknown];
        const candidates = modelsOfTable(cache, tableName(table));
        const model = candidates.includes(modelArg) ? modelArg : candidates.includes(options.model) ? options.model : undefined;
        const before = model ? await selectAffected(cache, model, where, options) : undefined;
        const write = () => call(original, this, [table, where, marked(options), modelArg]);
        return writing(cache, table, options, model, write, async (schema, at) => {
          const precise = !options.truncate && (await affectedChanged(cache, schema, options, before, (row) => row, at));
          if (!precise) await keysChanged(cache, schema, options, options.truncate ? undefined : rowsOfWhere(schema, where), 'bulk', at);
        }, 'bulk', true);
      } as Fn,
    upsert: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [table, insertValues, updateValues, where, options = {}] = args as [unknown, Record<string, unknown>, unknown, unknown, Options];
        const model = options.model;
        const write = () => call(original, this, [table, insertValues, updateValues, where, marked(options)]);
        return writing(cache, table, options, model, write, async (schema, at) => {
          // MariaDB's ON DUPLICATE KEY UPDATE updates whichever row a unique
          // key matched, which need not be the primary key the caller passed.
          const values = hasOtherUniqueKeys(model, schema) ? undefined : plainValues(schema, insertValues);
          const key = values ? rowKeyText(schema, values) : undefined;
          await keysChanged(cache, schema, options, key === undefined ? undefined : [key], 'save', at);
        }, 'save', false);
      } as Fn,
    increment: (original) => arithmeticWrapper(cache, original as unknown as ArithmeticFn) as unknown as Fn,
    decrement: (original) => arithmeticWrapper(cache, original as unknown as ArithmeticFn) as unknown as Fn,
  };
}

/**
 * The rows a bulk insert added, by attribute name, with the keys the
 * database gave them (the query interface returns them per row when it knows
 * the model); undefined when they cannot be told.
 */
function insertedRows(schema: ModelSchema, records: Record<string, unknown>[], result: unknown): Record<string, unknown>[] | undefined {
  if (!Array.isArray(records)) return undefined;
  const generated = Array.isArray(result) && result.length === records.length ? (result as unknown[]) : undefined;
  const rows: Record<string, unknown>[] = [];
  for (const [i, record] of records.entries()) {
    const row = plainValues(schema, { ...record, ...(generated && typeof generated[i] === 'object' ? (generated[i] as object) : {}) });
    if (!row) return undefined;
    // A new row of a paranoid model is inserted with deletedAt NULL.
    if (schema.paranoid && !(schema.paranoid.name in row)) row[schema.paranoid.name] = null;
    rows.push(row);
  }
  return rows;
}

/**
 * A statement that reaches `sequelize.query` without the mark of a query
 * interface write (raw SQL, DDL such as sync's CREATE/DROP TABLE, ALTER
 * TABLE of migrations), run like a query interface write: the epoch of every
 * cached model whose table the text may write is rotated before and after
 * it, and of the models the database cascades to from any written table
 * (cached or not: deleting uncached authors still deletes cached articles).
 */
export function rawStatement<T>(cache: OrmCache, options: Options, sql: string, run: () => Promise<T>): Promise<T> {
  // The models are looked up only for a statement that writes (most are reads).
  let byTable: Map<string, unknown[]> | undefined;
  const known = () => [...(byTable ??= modelsByTable(cache.sequelize.models)).keys()];
  const { tables: written, ddl } = statementWrites(sql, known);
  const tables = written === 'all' ? known() : written;
  if (tables.length === 0) return run();
  const cause: InvalidationCause = ddl ? 'sync' : 'raw';
  const own = tables
    .flatMap((table) => byTable?.get(table) ?? [])
    .map((model) => cache.schemaOf(model))
    .filter((schema): schema is ModelSchema => schema !== undefined);
  const cascaded = tables.flatMap((table) => cascadeTargets(cache, table)).filter((s) => !own.includes(s));
  const schemas = [...new Set([...own, ...cascaded])];
  const invalidate = (at: Moment) =>
    Promise.all(schemas.map((schema) => keysChanged(cache, schema, options, undefined, own.includes(schema) ? cause : 'cascade', at)));
  return cache.whileWriting(options, schemas, async (generations) => {
    await invalidate({ phase: 'before', generations });
    try {
      return await run();
    } finally {
      await invalidate({ phase: 'after', generations });
    }
  });
}

type ArithmeticFn = (model: unknown, table: unknown, where: unknown, ...rest: unknown[]) => Promise<unknown>;

/**
 * `Model.increment` / `decrement` (and the instance methods built on them)
 * run no model hooks; the rows are those of the where. The options are the
 * last argument.
 */
function arithmeticWrapper(cache: OrmCache, original: ArithmeticFn): ArithmeticFn {
  return async function (this: unknown, model, table, where, ...rest) {
    const options = (rest[rest.length - 1] ?? {}) as Options;
    const args = [...rest.slice(0, -1), marked(options)];
    return writing(cache, table, options, model, () => original.call(this, model, table, where, ...args), (schema, at) =>
      keysChanged(cache, schema, options, rowsOfWhere(schema, where), 'save', at), 'save', false);
  };
}
