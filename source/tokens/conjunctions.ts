/**
 * Query invalidation by conditions, django-cacheops' idea without its Redis
 * sets (docs/architecture.md, Keys and entries). A list whose where pins fields to values depends on a
 * token per combination of those values ("conjunction"); the set of field
 * names is its "scheme". A write rotates, for every scheme in use, the tokens
 * of the row's old and new values, so every list the row leaves or enters is
 * invalidated, and lists pinned to other values stay cached.
 *
 * A scheme may also name the other columns its lists read ("reads": columns
 * of conditions that pin nothing, of the order, of a count's aggregate):
 * `[field…, "|", read…]`. An update that sets none of a scheme's fields and
 * reads leaves every list of that scheme as it was (the rows it points to are
 * tombstoned, and nothing that decides which rows, or their order, moved), so
 * its tokens are not rotated; a scheme without the marker reads every column.
 * A writer that does not know the marker finds no attribute "|" and rotates
 * the list epoch instead: more invalidation, never less.
 *
 * Only conditions whose values compare the same way in MariaDB and here are
 * used: integers, booleans, NULL, UUIDs and ASCII text (folded for the
 * default case-insensitive, PAD SPACE collations). Any other condition is
 * dropped, which widens the conjunction: a list then depends on more writes,
 * never fewer.
 */
import type { AttributeInfo, ModelSchema } from '../model-schema';
import { isPlainObject, Op, sha256 } from '../util';

/** Most value combinations one list depends on before IN lists are dropped. */
const MAX_COMBINATIONS = 64;

/** The dependency of one list: its scheme and the value tuples it pins. */
export interface Conjunction {
  /**
   * Sorted attribute names (empty for "no usable condition"), then, when the
   * list reads only some columns, {@link READS} and those columns, sorted.
   */
  scheme: string[];
  /** One tuple of canonical value texts per combination (one empty tuple for the empty scheme). */
  tuples: string[][];
}

const ASCII_TEXT = /^[\x20-\x7e]*$/;

/**
 * The canonical text of a value as the database compares it, or `undefined`
 * when that cannot be known here (the condition is then not used).
 */
export function conditionText(attribute: AttributeInfo, value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (attribute.conditionKind) {
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return `i${value}`;
      if (typeof value === 'bigint') return `i${value}`;
      if (typeof value === 'string' && /^-?(0|[1-9]\d{0,19})$/.test(value)) return `i${value}`;
      if (typeof value === 'boolean') return `i${value ? 1 : 0}`;
      return undefined;
    case 'boolean':
      if (value === true || value === 1 || value === '1') return 'i1';
      if (value === false || value === 0 || value === '0') return 'i0';
      return undefined;
    case 'text':
      // PAD SPACE collations ignore trailing spaces; general_ci folds case.
      return typeof value === 'string' && ASCII_TEXT.test(value) ? `s${value.toLowerCase().replace(/ +$/, '')}` : undefined;
    default:
      return undefined;
  }
}

/** Separates a scheme's pinned fields from the other columns its lists read. */
export const READS = '|';

/** A scheme's pinned fields. */
export function schemeFields(scheme: readonly string[]): readonly string[] {
  const at = scheme.indexOf(READS);
  return at < 0 ? scheme : scheme.slice(0, at);
}

/**
 * Whether an update that set `changed` (attribute names) can change lists of
 * `scheme`: always for a scheme without reads, or when what was set is not
 * known.
 */
export function schemeTouched(scheme: readonly string[], changed: ReadonlySet<string> | undefined): boolean {
  if (!changed || !scheme.includes(READS)) return true;
  return scheme.some((name) => name !== READS && changed.has(name));
}

/**
 * `conjunction` for lists that read only `reads` besides its fields (none:
 * unchanged, every column). Never for a model with an attribute named like
 * the marker.
 */
export function withReads(schema: ModelSchema, conjunction: Conjunction, reads: ReadonlySet<string> | undefined): Conjunction {
  if (!reads || schema.byName.has(READS)) return conjunction;
  const others = [...reads].filter((name) => !conjunction.scheme.includes(name)).sort();
  return { scheme: [...conjunction.scheme, READS, ...others], tuples: conjunction.tuples };
}

/** The values a condition pins a field to, or undefined when it does not pin it. */
function pinned(condition: unknown): unknown[] | undefined {
  if (condition === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof condition)) return [condition];
  if (Array.isArray(condition)) return condition.length > 0 ? condition : undefined;
  if (!isPlainObject(condition) || Object.keys(condition).length !== 0) return undefined;
  const symbols = Object.getOwnPropertySymbols(condition);
  if (symbols.length !== 1) return undefined;
  const operand = condition[symbols[0] as symbol];
  if (symbols[0] === Op.eq) return pinned(operand);
  if (symbols[0] === Op.in && Array.isArray(operand) && operand.length > 0) return operand;
  return undefined;
}

/** Collect `field -> value texts` from the top-level AND of a where. */
function collect(schema: ModelSchema, where: unknown, into: Map<AttributeInfo, string[] | null>): void {
  if (!isPlainObject(where)) return;
  for (const key of Object.keys(where)) {
    const attribute = schema.byField.get(key) ?? schema.byName.get(key);
    if (!attribute) continue;
    const values = pinned(where[key]);
    const texts = values?.map((v) => conditionText(attribute, v));
    const usable = texts && texts.every((t): t is string => t !== undefined) ? [...new Set(texts)] : null;
    // A field constrained twice is dropped rather than intersected: wider is safe.
    into.set(attribute, into.has(attribute) ? null : usable);
  }
  for (const symbol of Object.getOwnPropertySymbols(where)) {
    if (symbol !== Op.and) continue;
    const parts = where[symbol];
    for (const part of Array.isArray(parts) ? parts : [parts]) collect(schema, part, into);
  }
}

/** The conjunction a list with this where depends on. */
export function conjunctionOf(schema: ModelSchema, where: unknown): Conjunction {
  const found = new Map<AttributeInfo, string[] | null>();
  collect(schema, where, found);
  let fields = [...found].filter((e): e is [AttributeInfo, string[]] => e[1] !== null);
  fields.sort((a, b) => (a[0].name < b[0].name ? -1 : 1));
  const count = () => fields.reduce((n, [, texts]) => n * texts.length, 1);
  // Drop the widest IN lists until the cross product is small enough.
  while (fields.length > 0 && count() > MAX_COMBINATIONS) {
    const widest = fields.reduce((w, f) => (f[1].length > w[1].length ? f : w));
    fields = fields.filter((f) => f !== widest);
  }
  let tuples: string[][] = [[]];
  for (const [, texts] of fields) tuples = tuples.flatMap((tuple) => texts.map((t) => [...tuple, t]));
  return { scheme: fields.map(([a]) => a.name), tuples };
}

/**
 * The conjunction tuple a row version belongs to under `scheme`: a tuple;
 * `'none'` when it belongs to none (a non-NULL value of a field that lists can
 * only pin to NULL, such as a paranoid `deletedAt` date); `undefined` when a
 * value is missing or not comparable here (the caller must then invalidate
 * every list of the model).
 */
export function rowTuple(schema: ModelSchema, scheme: readonly string[], row: Record<string, unknown>): string[] | 'none' | undefined {
  const tuple: string[] = [];
  for (const name of schemeFields(scheme)) {
    const attribute = schema.byName.get(name);
    if (!attribute || !Object.prototype.hasOwnProperty.call(row, name)) return undefined;
    const value = row[name];
    const text = conditionText(attribute, value);
    if (text === undefined) {
      if (attribute.conditionKind === 'other' && value !== null && value !== undefined) return 'none';
      return undefined;
    }
    tuple.push(text);
  }
  return tuple;
}

/** Key suffix of one conjunction token. */
export function conjunctionId(scheme: readonly string[], tuple: readonly string[]): string {
  return sha256(JSON.stringify([scheme, tuple]), 24);
}
