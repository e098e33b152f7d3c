/**
 * The query interface's write methods, wrapped: every ORM write reaches the
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
import type { WriteContext } from '../cache-context';
import { rowKeyText } from '../../source/keys';
import { rowsOfWhere } from '../where';
import { hasOtherUniqueKeys, insertedRows, plainValues, selectAffected } from './affected-rows';
import { modelsOfTable, setsKey, tableName } from './cascade';
import { affectedChanged, type Instance, instanceChanged, keysChanged, type Options } from './invalidate';
import { sendingWrite, writing } from './writing';

/** A query interface method. */
type Fn = (...args: never[]) => Promise<unknown>;

/** The columns a write sets. */
const columnsOf = (values: unknown): string[] => (values && typeof values === 'object' ? Object.keys(values) : []);

/**
 * Wrappers of the query interface's write methods, by method name. Each
 * takes the original and returns the method to install in its place.
 */
export function writeWrappers(cache: WriteContext): Record<string, (original: Fn) => Fn> {
  const call = (original: Fn, self: unknown, args: unknown[]) =>
    sendingWrite(() => (original as (...a: unknown[]) => Promise<unknown>).apply(self, args));
  return {
    insert: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [instance, table, values, options = {}] = args as [Instance | null, unknown, unknown, Options];
        const write = () => call(original, this, args);
        return writing(cache, table, options, instance?.constructor, write, (schema, at, r) =>
          instanceChanged(cache, instance as Instance, options, 'insert', 'save', at, r.failed), 'save', false);
      } as Fn,
    update: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [instance, table, values, where, options = {}] = args as [Instance, unknown, Record<string, unknown>, unknown, Options];
        // A paranoid destroy() saves deletedAt this way.
        const paranoid = cache.schemaOf(instance?.constructor)?.paranoid;
        const destroying = !!paranoid && values && values[paranoid.field] != null;
        const write = () => call(original, this, args);
        return writing(cache, table, options, instance?.constructor, write, (schema, at, r) =>
          instanceChanged(cache, instance, options, 'update', destroying ? 'destroy' : 'save', at, r.failed, values), 'save',
          setsKey(cache, tableName(table), columnsOf(values)));
      } as Fn,
    delete: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [instance, table, where, options = {}] = args as [Instance, unknown, unknown, Options];
        const write = () => call(original, this, args);
        return writing(cache, table, options, instance?.constructor, write, (schema, at, r) =>
          instanceChanged(cache, instance, options, 'delete', 'destroy', at, r.failed), 'destroy', true);
      } as Fn,
    bulkInsert: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [table, records, options = {}, attributes] = args as [unknown, Record<string, unknown>[], Options, unknown];
        const write = () => call(original, this, args);
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
        const write = () => call(original, this, args);
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
        const write = () => call(original, this, args);
        return writing(cache, table, options, model, write, async (schema, at) => {
          const precise = !options.truncate && (await affectedChanged(cache, schema, options, before, (row) => row, at));
          if (!precise) await keysChanged(cache, schema, options, options.truncate ? undefined : rowsOfWhere(schema, where), 'bulk', at);
        }, 'bulk', true);
      } as Fn,
    upsert: (original) =>
      async function (this: unknown, ...args: unknown[]) {
        const [table, insertValues, updateValues, where, options = {}] = args as [unknown, Record<string, unknown>, unknown, unknown, Options];
        const model = options.model;
        const write = () => call(original, this, args);
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

/** `queryInterface.increment` / `decrement`. */
type ArithmeticFn = (model: unknown, table: unknown, where: unknown, ...rest: unknown[]) => Promise<unknown>;

/**
 * `Model.increment` / `decrement` (and the instance methods built on them)
 * run no model hooks; the rows are those of the where. The options are the
 * last argument.
 */
function arithmeticWrapper(cache: WriteContext, original: ArithmeticFn): ArithmeticFn {
  return async function (this: unknown, model, table, where, ...rest) {
    const options = (rest[rest.length - 1] ?? {}) as Options;
    const send = () => sendingWrite(() => original.call(this, model, table, where, ...rest));
    return writing(cache, table, options, model, send, (schema, at) =>
      keysChanged(cache, schema, options, rowsOfWhere(schema, where), 'save', at), 'save', false);
  };
}
