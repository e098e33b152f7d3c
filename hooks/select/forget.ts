/**
 * `cache.forget(Model, options)` (django-orm-cache's `clean()`): the select
 * wrapper sees a marked findAll, drops the entry that read would use and
 * ends the read with {@link Forgotten}, without any SQL.
 */
import type { Model, ModelStatic } from 'sequelize';
import type { ReadContext } from '../cache-context';
import type { SelectOptions } from '../query-options';
import { entryOf } from './entry-key';
import { shapeOf } from './shape';

/** Symbol marking a `cache.forget()` run: drop the entry, throw {@link Forgotten}, never query. */
export const FORGET = Symbol('sequelize-orm-cache.forget');

/** Thrown by the select wrapper to end a `cache.forget()` run without SQL. */
export class Forgotten extends Error {}

/** `cache.forget()`: drop the entry this select would use, without SQL. */
export async function forgetEntry(cache: ReadContext, model: ModelStatic<Model>, tableName: unknown, options: SelectOptions): Promise<void> {
  const schema = cache.schemaOf(model);
  if (!schema) return;
  const how = shapeOf(cache, schema, options);
  if (typeof how === 'string') return;
  cache.metrics.invalidated(schema.name, 'manual');
  if (how.kind === 'row') {
    // A tombstone, not a delete: deleting would reopen the race a write's
    // tombstone closes (a slow filler's `add` would succeed again).
    await cache.rows.tombstone(schema, [how.where.pkText]);
    return;
  }
  const ref = entryOf(cache, schema, tableName, options, how);
  if (typeof ref !== 'string') await cache.entries.forget(ref);
}
