/**
 * What the findAll short way (hooks/select/fast-find.ts) can repeat: calls
 * whose options are a `where` of attributes equal to plain values, an order
 * of attribute names and directions, and a numeric limit and offset. The
 * preparation of such a call depends on the model and on the option's shape
 * (which attributes, which order, whether a limit or offset is given), not on
 * the values; so the first call of a shape goes the whole way, its select
 * options are kept when the values came through untouched (no scope, hook or
 * paranoid clause changed them), and later calls of the shape put their own
 * values into a copy.
 */
import type { SelectOptions } from '../query-options';
import { isPlainObject, Op } from '../../source/util';

/** A plain findAll call: its shape's name and its values. */
export interface PlainCall {
  shape: string;
  where: Record<string, unknown>;
  order: unknown[] | undefined;
  limit: number | undefined;
  offset: number | undefined;
}

/** Select options kept for one shape, and the column each where attribute maps to. */
export interface KeptShape {
  options: SelectOptions;
  columns: string[];
  /**
   * The where's keys in the order Sequelize's preparation left them, as
   * indexes into `columns`: it moves a renamed attribute's key (an
   * underscored `authorId` becoming `author_id`) after the others, and the
   * SQL's conditions come in key order.
   */
  keyOrder: number[];
  /** The paranoid model's `deletedAt` column, which Sequelize's paranoid clause pins to NULL. */
  paranoid: string | undefined;
  from: readonly unknown[];
}

/** The paranoid clause Sequelize adds for a `deletedAt` without a default: `{ [column]: { [Op.eq]: null } }`. */
function isParanoidClause(value: unknown, column: string): boolean {
  if (!isPlainObject(value) || Reflect.ownKeys(value).length !== 1) return false;
  const condition = value[column];
  return isPlainObject(condition) && Reflect.ownKeys(condition).length === 1 && condition[Op.eq] === null;
}

const paranoidClause = (column: string) => ({ [column]: { [Op.eq]: null } });

/** The most shapes kept per model class; calls of further shapes go the whole way. */
export const MAX_SHAPES = 64;

const OPTION_KEYS = new Set(['where', 'order', 'limit', 'offset']);
/** Fields of the selects a kept shape may have: anything else is a preparation not repeated. */
const KEPT = new Set(['hooks', 'rejectOnEmpty', 'where', 'order', 'limit', 'offset', 'attributes', 'originalAttributes', 'tableNames']);

const isValue = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
const isCount = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
const isDirection = (v: unknown) => v === 'ASC' || v === 'DESC' || v === 'asc' || v === 'desc';

/**
 * The shape and values of a findAll call the short way can take, or
 * undefined. `attributes` are the model's attribute names: an option named
 * like one is a mistake Sequelize warns about, which the whole way does.
 */
export function plainCall(options: unknown, attributes: Record<string, unknown>): PlainCall | undefined {
  if (options === null || typeof options !== 'object' || Object.getPrototypeOf(options) !== Object.prototype) return undefined;
  const given = options as Record<string, unknown>;
  const keys = Object.keys(given);
  if (Object.getOwnPropertySymbols(given).length > 0 || !keys.every((k) => OPTION_KEYS.has(k) && !(k in attributes))) return undefined;
  const { where, order, limit, offset } = given;
  if (!where || typeof where !== 'object' || Object.getPrototypeOf(where) !== Object.prototype || Object.getOwnPropertySymbols(where).length > 0) return undefined;
  const conditions = where as Record<string, unknown>;
  if (!Object.keys(conditions).every((k) => Object.prototype.hasOwnProperty.call(attributes, k) && isValue(conditions[k]))) return undefined;
  if (!isCount(limit) || !isCount(offset)) return undefined;
  if (order !== undefined) {
    if (!Array.isArray(order)) return undefined;
    const named = (item: unknown) =>
      (typeof item === 'string' && Object.prototype.hasOwnProperty.call(attributes, item)) ||
      (Array.isArray(item) && item.length === 2 && typeof item[0] === 'string' && Object.prototype.hasOwnProperty.call(attributes, item[0]) && isDirection(item[1]));
    if (!order.every(named)) return undefined;
  }
  const shape = JSON.stringify([Object.keys(conditions), order ?? null, limit !== undefined, offset !== undefined]);
  return { shape, where: conditions, order: order as unknown[] | undefined, limit: limit as number | undefined, offset: offset as number | undefined };
}

/**
 * The select options of a call's whole way, kept for its shape when they are
 * what a later call can repeat with its own values: only fields a plain
 * findAll has, the where exactly the call's values under their columns, the
 * limit and offset the call's.
 */
export function keepShape(
  call: PlainCall,
  options: SelectOptions | undefined,
  rawAttributes: Record<string, { field?: string }>,
  paranoid: string | undefined,
  from: readonly unknown[],
): KeptShape | undefined {
  if (!options || !Object.keys(options).every((k) => KEPT.has(k)) || !Array.isArray(options.attributes)) return undefined;
  if (options.limit !== call.limit || options.offset !== call.offset) return undefined;
  // The call's order is the select's (a scope's order only fills a missing
  // one); the select's own array is no copy to keep, as building the SQL
  // rewrote its directions in place.
  if (call.order === undefined && options.order !== undefined) return undefined;
  const names = Object.keys(call.where);
  const columns = names.map((name) => rawAttributes[name]?.field ?? name);
  // A paranoid model's clause comes first, ANDed with the call's where, or alone when that is empty.
  let own = options.where as Record<string | symbol, unknown> | undefined;
  if (paranoid !== undefined && names.length === 0) own = isParanoidClause(own, paranoid) ? {} : undefined;
  else if (paranoid !== undefined) {
    const parts = own && Reflect.ownKeys(own).length === 1 ? own[Op.and] : undefined;
    own = Array.isArray(parts) && parts.length === 2 && isParanoidClause(parts[0], paranoid) ? (parts[1] as Record<string | symbol, unknown>) : undefined;
  }
  if (!own || Object.getPrototypeOf(own) !== Object.prototype) return undefined;
  const keys = Reflect.ownKeys(own);
  const keyOrder = keys.map((k) => columns.indexOf(k as string));
  if (keys.length !== columns.length || new Set(keyOrder).size !== keys.length || keyOrder.includes(-1)) return undefined;
  if (!names.every((name, i) => own[columns[i] as string] === call.where[name])) return undefined;
  // Kept without what each call brings: its where, order, limit and offset.
  const { where: _where, order: _order, limit: _limit, offset: _offset, ...rest } = options;
  return { options: rest, columns, keyOrder, paranoid, from };
}

/** A fresh copy of a kept shape's options with this call's values. */
export function forCall(kept: KeptShape, call: PlainCall): SelectOptions {
  const { options } = kept;
  const own: Record<string, unknown> = {};
  const values = Object.values(call.where);
  for (const i of kept.keyOrder) own[kept.columns[i] as string] = values[i];
  const { paranoid } = kept;
  const where = paranoid === undefined ? own : kept.columns.length === 0 ? paranoidClause(paranoid) : { [Op.and]: [paranoidClause(paranoid), own] };
  const copy = <T>(list: T): T => (Array.isArray(list) ? (list.map((a: unknown) => (Array.isArray(a) ? [...a] : a)) as T) : list);
  const selected: SelectOptions = { ...options, attributes: copy(options.attributes), originalAttributes: copy(options.originalAttributes), where };
  if (call.order !== undefined) selected.order = copy(call.order);
  if (call.limit !== undefined) selected.limit = call.limit;
  if (call.offset !== undefined) selected.offset = call.offset;
  return selected;
}
