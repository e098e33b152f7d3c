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
  const run = (counted: boolean, generation: number | undefined) => {
    const why = counted ? cause : null;
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
