/**
 * The queries a cached read sends instead of the one asked: a row miss reads
 * the full raw row by primary key, a list or tree miss reads full raw rows
 * (projected afterwards), and rows a list lacks are read by key.
 */
import type { ModelSchema } from '../../source/model-schema';
import type { PkValues } from '../../source/lists/entry-format';
import { Op } from '../../source/util';
import type { SelectOptions } from '../query-options';
import type { PrimaryKeyWhere } from '../where';

/** Every stored attribute, as `[field, name]` where they differ. */
const ALL_COLUMNS = (schema: ModelSchema) => schema.attributes.map((a) => (a.field === a.name ? a.name : [a.field, a.name]));

/** The full-row query for a row-cache miss: every stored attribute, raw, by primary key only. */
export function fullRowOptions(schema: ModelSchema, options: SelectOptions, where: PrimaryKeyWhere): SelectOptions {
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
export function fullListOptions(schema: ModelSchema, options: SelectOptions): SelectOptions {
  return { ...options, attributes: ALL_COLUMNS(schema), originalAttributes: undefined, raw: true, plain: false, nest: false };
}

/** Rows by primary key, whatever their paranoid state (the list already applied the where). */
export function rowsByKeyOptions(schema: ModelSchema, options: SelectOptions, pks: PkValues[]): SelectOptions {
  const [only] = schema.primaryKeys;
  const where =
    schema.primaryKeys.length === 1 && only
      ? { [only.field]: { [Op.in]: pks.map((pk) => pk[0]) } }
      : { [Op.or]: pks.map((pk) => Object.fromEntries(schema.primaryKeys.map((a, i) => [a.field, pk[i]]))) };
  return { ...fullListOptions(schema, options), where, limit: undefined, offset: undefined, order: undefined };
}
