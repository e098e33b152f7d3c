/**
 * Recognising where clauses that name rows by primary key, after Sequelize
 * has mapped attribute names to columns and added the paranoid clause.
 * Operators are `Symbol.for` symbols in Sequelize v6, so they are compared
 * without importing any copy of the sequelize module.
 */
import { keyValueText, primaryKeyText } from '../source/keys';
import type { AttributeInfo, ModelSchema } from '../source/model-schema';

import { isPlainObject, Op } from '../source/util';

function isScalar(value: unknown): value is string | number | bigint {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint';
}

/** `v` or `{ [Op.eq]: v }` with a scalar `v`. */
function equalityValue(condition: unknown): unknown {
  if (isScalar(condition)) return condition;
  if (isPlainObject(condition) && Object.keys(condition).length === 0) {
    const symbols = Object.getOwnPropertySymbols(condition);
    if (symbols.length === 1 && symbols[0] === Op.eq && isScalar(condition[Op.eq])) return condition[Op.eq];
  }
  return undefined;
}

/** `[a, b]`, `{ [Op.in]: [a, b] }`, or a single equality: the listed scalars. */
function equalityValues(condition: unknown): unknown[] | undefined {
  const single = equalityValue(condition);
  if (single !== undefined) return [single];
  let list: unknown = condition;
  if (isPlainObject(condition) && Object.keys(condition).length === 0) {
    const symbols = Object.getOwnPropertySymbols(condition);
    if (symbols.length === 1 && symbols[0] === Op.in) list = condition[Op.in];
  }
  return Array.isArray(list) && list.length > 0 && list.every(isScalar) ? list : undefined;
}

function attributeOf(schema: ModelSchema, key: string): AttributeInfo | undefined {
  return schema.byField.get(key) ?? schema.byName.get(key);
}

/** Split off the paranoid clause `{ [Op.and]: [{ deletedAt: { [Op.eq]: null } }, where] }`. */
export function splitParanoid(schema: ModelSchema, where: unknown): { where: unknown; paranoid: boolean } {
  if (!schema.paranoid || !isPlainObject(where) || Object.keys(where).length !== 0) return { where, paranoid: false };
  const symbols = Object.getOwnPropertySymbols(where);
  const parts = where[Op.and];
  if (symbols.length !== 1 || symbols[0] !== Op.and || !Array.isArray(parts) || parts.length !== 2) {
    return { where, paranoid: false };
  }
  const [first, rest] = parts as [unknown, unknown];
  if (isParanoidClause(schema, first)) return { where: rest, paranoid: true };
  return { where, paranoid: false };
}

/** Whether `clause` is exactly Sequelize's paranoid clause `{ deletedAt: { [Op.eq]: null } }`. */
export function isParanoidClause(schema: ModelSchema, clause: unknown): boolean {
  if (!isPlainObject(clause) || Object.getOwnPropertySymbols(clause).length !== 0) return false;
  const keys = Object.keys(clause);
  if (keys.length !== 1 || attributeOf(schema, keys[0] as string) !== schema.paranoid) return false;
  const condition = clause[keys[0] as string];
  if (condition === null) return true;
  if (!isPlainObject(condition) || Object.keys(condition).length !== 0) return false;
  const symbols = Object.getOwnPropertySymbols(condition);
  return symbols.length === 1 && symbols[0] === Op.eq && condition[Op.eq] === null;
}

/** A where that names exactly one row by its full primary key. */
export interface PrimaryKeyWhere {
  /** Key text of the row. */
  pkText: string;
  /** The values, in primary key order, as the query gave them. */
  values: unknown[];
  /** Whether the paranoid clause must be applied to the cached row. */
  paranoid: boolean;
}

/** `{ id: 5 }`, `{ id: { [Op.eq]: 5 } }`, `{ a: 1, b: 2 }` for a composite key; else undefined. */
export function primaryKeyWhere(schema: ModelSchema, rawWhere: unknown): PrimaryKeyWhere | undefined {
  if (schema.primaryKeys.length === 0) return undefined;
  const { where, paranoid } = splitParanoid(schema, rawWhere);
  if (!isPlainObject(where) || Object.getOwnPropertySymbols(where).length !== 0) return undefined;
  const keys = Object.keys(where);
  if (keys.length !== schema.primaryKeys.length) return undefined;
  const values = new Map<AttributeInfo, unknown>();
  for (const key of keys) {
    const attribute = attributeOf(schema, key);
    if (!attribute || !schema.primaryKeys.includes(attribute) || values.has(attribute)) return undefined;
    const value = equalityValue(where[key]);
    if (value === undefined) return undefined;
    values.set(attribute, value);
  }
  const ordered = schema.primaryKeys.map((a) => values.get(a));
  const pkText = primaryKeyText(schema, ordered);
  return pkText === undefined ? undefined : { pkText, values: ordered, paranoid };
}

/**
 * Key texts of every row a write's where can touch, when the where names rows
 * by a single-column primary key only (`{ id: 5 }`, `{ id: [1, 2] }`, with or
 * without the paranoid clause); `undefined` when the rows cannot be known
 * from the where, and the whole model must be invalidated.
 */
export function rowsOfWhere(schema: ModelSchema, rawWhere: unknown): string[] | undefined {
  const exact = primaryKeyWhere(schema, rawWhere);
  if (exact) return [exact.pkText];
  const only = schema.primaryKeys.length === 1 ? schema.primaryKeys[0] : undefined;
  const { where } = splitParanoid(schema, rawWhere);
  if (!only || !isPlainObject(where) || Object.getOwnPropertySymbols(where).length !== 0) return undefined;
  const keys = Object.keys(where);
  if (keys.length !== 1 || attributeOf(schema, keys[0] as string) !== only) return undefined;
  const values = equalityValues(where[keys[0] as string]);
  if (!values) return undefined;
  const texts = values.map((v) => keyValueText(only, v));
  return texts.every((t): t is string => t !== undefined) ? [...new Set(texts)] : undefined;
}

/**
 * Whether a where only hides soft-deleted rows: the paranoid clause alone,
 * or wrapped with an empty where (`{ [Op.and]: [clause, undefined] }`, what
 * Sequelize leaves on an include without a where of its own).
 */
export function onlyParanoid(schema: ModelSchema, where: unknown): boolean {
  if (isParanoidClause(schema, where)) return true;
  const split = splitParanoid(schema, where);
  if (!split.paranoid) return false;
  const rest = split.where;
  return rest === undefined || rest === null || (isPlainObject(rest) && Reflect.ownKeys(rest).length === 0);
}
