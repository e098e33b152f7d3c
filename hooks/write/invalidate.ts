/**
 * What a write invalidates (docs/architecture.md, invariant 1): a write
 * whose rows and values are known (instance writes, inserts, bulk writes
 * selected first inside a transaction) tombstones those rows and rotates the
 * conjunction tokens of their old and new values; one whose rows are known by
 * key only tombstones them and rotates the list epoch; one whose rows cannot
 * be known rotates the model epoch.
 */
import type { Model } from 'sequelize';
import { rowKeyText } from '../../source/keys';
import type { InvalidationCause } from '../../source/metrics/snapshot';
import type { ModelSchema } from '../../source/model-schema';
import type { WriteContext, WriteMoment } from '../cache-context';

/** Options of a query interface write. */
export type Options = Record<string, unknown> & { transaction?: unknown; where?: unknown };

/** A model instance as the query interface gets it. */
export type Instance = Model & { _previousDataValues?: Record<string, unknown> };

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
 * The attributes an update statement can change: the columns it sets (by
 * column or attribute name) and those the database changes by itself
 * (`schema.computed`); undefined, anything, when it sets a column that is no
 * attribute. Excluded attributes are left out: no cached list reads them.
 * The statement's columns, not a comparison of the instance's old and new
 * values: a JSON value changed in place looks the same in both.
 */
function updatedAttributes(schema: ModelSchema, set: Record<string, unknown>): ReadonlySet<string> | undefined {
  const changed = new Set(schema.computed);
  for (const key of Object.keys(set)) {
    const attribute = schema.byField.get(key) ?? schema.byName.get(key);
    if (attribute) changed.add(attribute.name);
    else if (!schema.excluded.has(key)) return undefined;
  }
  return changed;
}

/**
 * What the row cache held of the row when each instance write began, by the
 * write's options object (the same in both of its invalidations, and at its
 * commit inside a transaction).
 */
const heldBefore = new WeakMap<object, Promise<Record<string, unknown> | undefined>>();

/**
 * Whether two values of one attribute may differ: Dates and Buffers by
 * content, other objects (JSON values) by their JSON text, the rest by
 * identity. A wrong "may" only rotates more.
 */
function mayDiffer(a: unknown, b: unknown): boolean {
  if (a === b) return false;
  if (a instanceof Date && b instanceof Date) return a.getTime() !== b.getTime();
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return !a.equals(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return true;
  try {
    return JSON.stringify(a) !== JSON.stringify(b);
  } catch {
    return true;
  }
}

/**
 * The row's real versions, when the entry the cache held before the write
 * says other values than the instance believes: an instance loaded before
 * another write moved its row rotates the tuples it believes, and a list of
 * the row's real tuple would keep what it read of the row (its order, the
 * values a whole value holds). The real row before the write and with the
 * statement's values; none when the entry agrees or there was none.
 */
function realVersions(schema: ModelSchema, believed: Record<string, unknown> | undefined, held: Record<string, unknown> | undefined, set: Record<string, unknown> | undefined): Record<string, unknown>[] {
  if (!held || !believed || !schema.attributes.some((a) => mayDiffer(held[a.name], believed[a.name]))) return [];
  const after = { ...held };
  for (const [key, value] of Object.entries(set ?? {})) {
    const attribute = schema.byField.get(key) ?? schema.byName.get(key);
    if (attribute) after[attribute.name] = value;
  }
  return [held, after];
}

/**
 * Invalidate an instance's row and lists (or the model when its key cannot
 * be named). Before an insert the row may have no key yet (the database
 * generates it): only the lists its values enter then. `set` is an update's
 * statement values: lists that read none of its columns keep their tokens.
 */
export async function instanceChanged(
  cache: WriteContext,
  instance: Instance,
  options: Options,
  change: 'insert' | 'update' | 'delete',
  cause: InvalidationCause,
  at: WriteMoment,
  failed: boolean,
  set?: Record<string, unknown>,
): Promise<void> {
  const schema = cache.schemaOf(instance?.constructor);
  if (!schema) return;
  const versions = instanceVersions(schema, instance, change === 'insert');
  // A failed write's row may be half-known: the whole model then.
  const keys = failed ? undefined : instanceKeys(schema, instance);
  const changed = change === 'update' && set && typeof set === 'object' ? updatedAttributes(schema, set) : undefined;
  const run = async (counted: boolean, generation: number | undefined) => {
    const why = counted ? cause : null;
    if (keys && change !== 'insert') {
      // Read before the first invalidation's tombstone is sent (the same
      // round trip on an ordered store); used by the last invalidation, which
      // also rotates the tuples of the row's real values when they are not
      // the instance's (docs/transparency.md, An update through an instance
      // loaded before another write).
      if (!counted && !heldBefore.has(options)) heldBefore.set(options, cache.rows.current(schema, keys[keys.length - 1] as string).catch(() => undefined));
      if (counted) {
        const held = await heldBefore.get(options);
        heldBefore.delete(options);
        const real = realVersions(schema, instance._previousDataValues, held, change === 'update' ? set : undefined);
        return cache.rowsChanged(schema, keys, real.length ? [...versions, ...real] : versions, why, generation, changed);
      }
    }
    if (keys) return cache.rowsChanged(schema, keys, versions, why, generation, changed);
    if (at.phase === 'before' && change === 'insert') return cache.rowsChanged(schema, [], versions, why);
    return cache.modelChanged(schema, why);
  };
  await cache.invalidateAfterWrite(options, schema, run, at);
}

/** Invalidate rows known only by key (values unknown), or the model when even the keys are unknown. */
export async function keysChanged(cache: WriteContext, schema: ModelSchema, options: Options, keys: string[] | undefined, cause: InvalidationCause, at: WriteMoment) {
  await cache.invalidateAfterWrite(
    options,
    schema,
    (counted, generation) =>
      keys ? cache.rowsChanged(schema, keys, undefined, counted ? cause : null, generation) : cache.modelChanged(schema, counted ? cause : null),
    at,
  );
}

/**
 * Invalidate precisely from the rows selected before a bulk write, if any;
 * `false` when there were none to go by.
 */
export async function affectedChanged(
  cache: WriteContext,
  schema: ModelSchema,
  options: Options,
  rows: Record<string, unknown>[] | undefined,
  after: (row: Record<string, unknown>) => Record<string, unknown> | undefined,
  at: WriteMoment,
): Promise<boolean> {
  if (!rows) return false;
  const keys = rows.map((row) => rowKeyText(schema, row));
  if (keys.some((k) => k === undefined)) return false;
  const newer = rows.map(after);
  const versions = newer.every((v) => v !== undefined) ? [...rows, ...(newer as Record<string, unknown>[])] : undefined;
  await cache.invalidateAfterWrite(options, schema, (counted, generation) => cache.rowsChanged(schema, keys as string[], versions, counted ? 'bulk' : null, generation), at);
  return true;
}
