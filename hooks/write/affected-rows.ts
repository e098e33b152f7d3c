/**
 * What a bulk write will change, where that can be known: the rows it
 * touches (selected FOR UPDATE first inside a transaction), the values it
 * sets, the rows a bulk insert adds, and whether an upsert may hit a row by
 * another unique key.
 */
import type { ModelSchema } from '../../source/model-schema';
import type { WriteContext } from '../cache-context';
import { currentTransaction } from '../transactions';
import type { Options } from './invalidate';

/** Most rows a bulk write inside a transaction selects first to invalidate precisely. */
const PRECISE_LIMIT = 1000;

/** A model's findAll, as the pre-select calls it. */
type Finder = { findAll(options: Record<string, unknown>): Promise<Record<string, unknown>[]> };

/**
 * Inside a transaction, select the rows a bulk update or delete will touch,
 * FOR UPDATE: the locks keep other transactions from changing which rows
 * match until the commit, so the write changes exactly these rows and only
 * their entries and their lists need invalidating. Outside a transaction
 * there is no such guarantee and the model is invalidated whole.
 */
export async function selectAffected(cache: WriteContext, model: unknown, where: unknown, options: Options): Promise<Record<string, unknown>[] | undefined> {
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
export function plainValues(schema: ModelSchema, values: unknown): Record<string, unknown> | undefined {
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
 * The rows a bulk insert added, by attribute name, with the keys the
 * database gave them (the query interface returns them per row when it knows
 * the model); undefined when they cannot be told.
 */
export function insertedRows(schema: ModelSchema, records: Record<string, unknown>[], result: unknown): Record<string, unknown>[] | undefined {
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

/** Whether any attribute besides the primary key is unique: an upsert may then hit another row. */
export function hasOtherUniqueKeys(model: unknown, schema: ModelSchema): boolean {
  const m = model as { uniqueKeys?: Record<string, unknown>; rawAttributes?: Record<string, { unique?: unknown; primaryKey?: boolean }> };
  if (m.uniqueKeys && Object.keys(m.uniqueKeys).length > 0) return true;
  return Object.values(m.rawAttributes ?? {}).some((a) => a.unique && !a.primaryKey) || schema.primaryKeys.length === 0;
}
