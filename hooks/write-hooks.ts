/**
 * Invalidation on writes. Each handler runs after the write's SQL returned
 * and before the ORM call resolves (Sequelize awaits hooks), so a read that
 * starts after the write returns sees it; inside a transaction the work moves
 * to the commit (DESIGN.md invariants 1 and 2).
 *
 * A write whose rows and values are known (instance writes, inserts, bulk
 * writes selected first inside a transaction) tombstones those rows and
 * rotates the conjunction tokens of their old and new values; one whose rows
 * are known by key only tombstones them and rotates the list epoch; one whose
 * rows cannot be known (bulk writes by other conditions, upserts on unique
 * keys, raw SQL) rotates the model epoch. Deletes and key changes also
 * invalidate the models the database cascades to.
 */
import type { Model } from 'sequelize';
import { rowKeyText } from '../source/keys';
import type { ModelSchema } from '../source/model-schema';
import type { InvalidationCause } from '../source/metrics';
import type { OrmCache } from './orm-cache';
import { tablesWritten } from './raw-sql';
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
 * Invalidate an instance's row and lists (or the model when its key cannot
 * be named), and what the database cascades from a delete or a key change.
 */
async function instanceChanged(
  cache: OrmCache,
  instance: Instance,
  options: Options,
  change: 'insert' | 'update' | 'delete',
  cause: InvalidationCause,
): Promise<void> {
  const model = instance?.constructor;
  const schema = cache.schemaOf(model);
  if (!schema) return;
  const keys = instanceKeys(schema, instance);
  await cache.invalidateAfterWrite(options, schema, () =>
    keys
      ? cache.rowsChanged(schema, keys, instanceVersions(schema, instance, change === 'insert'), cause)
      : cache.modelChanged(schema, cause),
  );
  if (change === 'delete' || !keys || keys.length > 1) await cascade(cache, options, tableOf(model));
}

/** Whether a destroy removes rows (cascading in the database) rather than setting deletedAt. */
function hardDelete(model: unknown, options: Options): boolean {
  return !(model as Partial<ModelMeta>)?.options?.paranoid || !!options.force || !!options.truncate;
}

/** Invalidate rows known only by key (values unknown), or the model when even the keys are unknown. */
async function keysChanged(cache: OrmCache, schema: ModelSchema, options: Options, keys: string[] | undefined, cause: InvalidationCause) {
  await cache.invalidateAfterWrite(options, schema, () =>
    keys ? cache.rowsChanged(schema, keys, undefined, cause) : cache.modelChanged(schema, cause),
  );
}

const CASCADING = /^(CASCADE|SET NULL|SET DEFAULT)$/i;

type ModelMeta = {
  getTableName(): string | { tableName: string };
  rawAttributes: Record<string, { references?: { model?: unknown }; onDelete?: unknown; onUpdate?: unknown; primaryKey?: boolean; field?: string }>;
  options: { paranoid?: boolean };
};

function tableOf(model: unknown): string | undefined {
  const m = model as Partial<ModelMeta> | undefined;
  if (typeof m?.getTableName !== 'function') return undefined;
  const table = m.getTableName();
  return typeof table === 'string' ? table : table.tableName;
}

/**
 * Rows the database itself changes when rows of `table` are deleted or get a
 * new key: foreign keys with ON DELETE / ON UPDATE CASCADE, SET NULL or SET
 * DEFAULT, followed transitively (authors → articles → comments). No hook
 * sees those writes, so the referencing models are invalidated whole.
 */
async function cascade(cache: OrmCache, options: Options, table: string | undefined): Promise<void> {
  if (!table) return;
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
  await Promise.all(targets.map((schema) => cache.invalidateAfterWrite(options, schema, () => cache.modelChanged(schema, 'cascade'))));
}

function modelOf(self: unknown, options: Options | undefined): unknown {
  return options?.model ?? self;
}

/** Whether any attribute besides the primary key is unique: an upsert may then hit another row. */
function hasOtherUniqueKeys(model: unknown, schema: ModelSchema): boolean {
  const m = model as { uniqueKeys?: Record<string, unknown>; rawAttributes?: Record<string, { unique?: unknown; primaryKey?: boolean }> };
  if (m.uniqueKeys && Object.keys(m.uniqueKeys).length > 0) return true;
  return Object.values(m.rawAttributes ?? {}).some((a) => a.unique && !a.primaryKey) || schema.primaryKeys.length === 0;
}

/** Most rows a bulk write inside a transaction selects first to invalidate precisely. */
const PRECISE_LIMIT = 1000;

/** Rows a bulk write is about to change, selected in its transaction (by its options object). */
const affected = new WeakMap<object, Record<string, unknown>[]>();

type Finder = { findAll(options: Record<string, unknown>): Promise<Record<string, unknown>[]> };

/**
 * Inside a transaction, select the rows a bulk update or destroy will touch,
 * FOR UPDATE: the locks keep other transactions from changing which rows
 * match until the commit, so the write changes exactly these rows and only
 * their entries and their lists need invalidating. Outside a transaction
 * there is no such guarantee and the model is invalidated whole.
 */
async function selectAffected(cache: OrmCache, model: unknown, options: Options): Promise<void> {
  const transaction = currentTransaction(cache.sequelize, options);
  if (!transaction || options.truncate || !cache.schemaOf(model)) return;
  const rows = await (model as Finder).findAll({
    where: options.where,
    transaction,
    lock: true,
    paranoid: false,
    raw: true,
    hooks: false,
    limit: PRECISE_LIMIT + 1,
    logging: options.logging,
  });
  if (rows.length <= PRECISE_LIMIT) affected.set(options, rows);
}

/**
 * The attribute values a bulk update sets, or undefined when one is computed
 * in SQL (literal, fn, col) or names no attribute: the new rows are then not
 * known here.
 */
function plainValues(schema: ModelSchema, values: unknown): Record<string, unknown> | undefined {
  if (!values || typeof values !== 'object') return undefined;
  for (const [name, value] of Object.entries(values)) {
    if (!schema.byName.has(name)) return undefined;
    if (value === null || value instanceof Date || Buffer.isBuffer(value) || typeof value !== 'object') continue;
    return undefined;
  }
  return values as Record<string, unknown>;
}

/**
 * Invalidate precisely from the rows selected before a bulk write, if any;
 * `false` when there were none to go by.
 */
async function affectedChanged(cache: OrmCache, schema: ModelSchema, options: Options, after: (row: Record<string, unknown>) => Record<string, unknown> | undefined): Promise<boolean> {
  const rows = affected.get(options);
  affected.delete(options);
  if (!rows) return false;
  const keys = rows.map((row) => rowKeyText(schema, row));
  if (keys.some((k) => k === undefined)) return false;
  const newer = rows.map(after);
  const versions = newer.every((v) => v !== undefined) ? [...rows, ...(newer as Record<string, unknown>[])] : undefined;
  await cache.invalidateAfterWrite(options, schema, () => cache.rowsChanged(schema, keys as string[], versions, 'bulk'));
  return true;
}

/** Universal hook functions by hook name; `this` is the model (Sequelize applies hooks to it). */
export function writeHooks(cache: OrmCache): Record<string, (...args: never[]) => Promise<void>> {
  const forWhere = async function (this: unknown, options: Options) {
    const schema = cache.schemaOf(modelOf(this, options));
    if (!schema) return;
    await keysChanged(cache, schema, options, options.truncate ? undefined : rowsOfWhere(schema, options.where), 'bulk');
  };

  return {
    // afterCreate and afterUpdate rather than afterSave (which Sequelize
    // proxies to both): an insert has no old version to invalidate.
    async afterCreate(this: unknown, instance: Instance, options: Options) {
      await instanceChanged(cache, instance, options, 'insert', 'save');
    },
    async afterUpdate(this: unknown, instance: Instance, options: Options) {
      await instanceChanged(cache, instance, options, 'update', 'save');
    },
    async afterDestroy(this: unknown, instance: Instance, options: Options) {
      await instanceChanged(cache, instance, options, hardDelete(instance?.constructor, options) ? 'delete' : 'update', 'destroy');
    },
    async afterRestore(this: unknown, instance: Instance, options: Options) {
      await instanceChanged(cache, instance, options, 'update', 'save');
    },
    async beforeBulkUpdate(this: unknown, options: Options) {
      await selectAffected(cache, modelOf(this, options), options);
    },
    async beforeBulkDestroy(this: unknown, options: Options) {
      await selectAffected(cache, modelOf(this, options), options);
    },
    async afterBulkUpdate(this: unknown, options: Options) {
      const schema = cache.schemaOf(modelOf(this, options));
      const values = schema && plainValues(schema, options.attributes);
      const precise =
        schema && (await affectedChanged(cache, schema, options, (row) => (values ? { ...row, ...values } : undefined)));
      if (!precise) await forWhere.call(this, options);
      // A bulk update that sets a key column cascades to referencing rows.
      const model = modelOf(this, options) as Partial<ModelMeta>;
      const set = options.attributes && typeof options.attributes === 'object' ? Object.keys(options.attributes) : [];
      const keys = Object.entries(model?.rawAttributes ?? {}).filter(([, a]) => a.primaryKey);
      if (keys.some(([name, a]) => set.includes(name) || set.includes(a.field ?? name))) {
        await cascade(cache, options, tableOf(model));
      }
    },
    async afterBulkDestroy(this: unknown, options: Options) {
      const model = modelOf(this, options);
      const schema = cache.schemaOf(model);
      // A soft delete sets deletedAt; a hard one leaves only the old version.
      const soft = schema?.paranoid && !hardDelete(model, options) ? schema.paranoid.name : undefined;
      const precise =
        schema && (await affectedChanged(cache, schema, options, (row) => (soft ? { ...row, [soft]: new Date() } : row)));
      if (!precise) await forWhere.call(this, options);
      if (hardDelete(model, options)) await cascade(cache, options, tableOf(model));
    },
    afterBulkRestore: forWhere,

    async afterUpsert(this: unknown, result: [Instance, boolean | null], options: Options) {
      const model = modelOf(this, options);
      const schema = cache.schemaOf(model);
      if (!schema) return;
      const instance = Array.isArray(result) ? result[0] : undefined;
      // MariaDB's ON DUPLICATE KEY UPDATE updates whichever row a unique key
      // matched, which need not be the primary key the caller passed.
      const keys = instance && !hasOtherUniqueKeys(model, schema) ? instanceKeys(schema, instance) : undefined;
      await keysChanged(cache, schema, options, keys, 'save');
    },

    async afterBulkCreate(this: unknown, instances: Instance[], options: Options) {
      const schema = cache.schemaOf(modelOf(this, options));
      if (!schema) return;
      // updateOnDuplicate / ignoreDuplicates touch rows found by any unique key.
      if (options.updateOnDuplicate || options.ignoreDuplicates) return keysChanged(cache, schema, options, undefined, 'bulk');
      // Plain inserts change no cached row (a key that existed would make the
      // insert fail, and a deleted row's key was tombstoned by its delete), but
      // the new rows enter lists.
      const versions = instances.flatMap((i) => instanceVersions(schema, i, true));
      await cache.invalidateAfterWrite(options, schema, () => cache.rowsChanged(schema, [], versions, 'bulk'));
    },

    // sync({ force }) drops the rows, sync({ alter }) may reshape them.
    async afterSync(this: unknown) {
      const schema = cache.schemaOf(this);
      if (schema) await cache.modelChanged(schema, 'sync');
    },

    // Writes with `hooks: false` skip every model hook above but still pass
    // through the query hooks (Sequelize's own paranoid destroy() saves that
    // way). An instance write names its row; any other such write does not.
    // Raw SQL (no model, no instance) is recognised from its text.
    async afterQuery(this: unknown, options: Options, query: { model?: unknown; instance?: Instance; sql?: unknown }) {
      const instance = (options?.instance ?? query?.instance) as Instance | undefined;
      const model = options?.model ?? query?.model;
      if (!instance && !model) {
        const sql = typeof query?.sql === 'string' ? query.sql : undefined;
        if (sql) await invalidateRawWrite(cache, options, sql);
        return;
      }
      if (options?.hooks !== false || !WRITE_TYPES.has(String(options.type))) return;
      const deleted = options.type === 'DELETE' || options.type === 'BULKDELETE';
      if (instance) {
        const change = deleted ? 'delete' : options.type === 'INSERT' ? 'insert' : 'update';
        return instanceChanged(cache, instance, options, change, deleted ? 'destroy' : 'save');
      }
      const schema = cache.schemaOf(model);
      if (schema) await keysChanged(cache, schema, options, undefined, 'bulk');
      if (deleted) await cascade(cache, options, tableOf(model));
    },
  };
}

/**
 * Rotate the epoch of every cached model a raw statement may have written,
 * and of the models the database cascades to from any written table (cached
 * or not: deleting uncached authors still deletes cached articles).
 */
async function invalidateRawWrite(cache: OrmCache, options: Options, sql: string): Promise<void> {
  const byTable = new Map<string, unknown>();
  for (const model of Object.values(cache.sequelize.models)) {
    const table = tableOf(model);
    if (table) byTable.set(table, model);
  }
  if (byTable.size === 0) return;
  const written = tablesWritten(sql, [...byTable.keys()]);
  const tables = written === 'all' ? [...byTable.keys()] : written;
  await Promise.all(
    tables.map(async (table) => {
      const schema = cache.schemaOf(byTable.get(table));
      if (schema) await keysChanged(cache, schema, options, undefined, 'raw');
      await cascade(cache, options, table);
    }),
  );
}

const WRITE_TYPES = new Set(['INSERT', 'UPDATE', 'BULKUPDATE', 'BULKDELETE', 'DELETE', 'UPSERT']);

type ArithmeticFn = (model: unknown, table: unknown, where: unknown, ...rest: unknown[]) => Promise<unknown>;

/**
 * `Model.increment` / `decrement` (and the instance methods built on them) go
 * straight to the query interface and run no model hooks, so they are wrapped
 * there. The options are the last argument.
 */
export function arithmeticWrapper(cache: OrmCache, original: ArithmeticFn): ArithmeticFn {
  return async function (this: unknown, model, table, where, ...rest) {
    const result = await original.call(this, model, table, where, ...rest);
    const schema = cache.schemaOf(model);
    if (schema) {
      const options = (rest[rest.length - 1] ?? {}) as Options;
      await keysChanged(cache, schema, options, rowsOfWhere(schema, where), 'save');
    }
    return result;
  };
}
