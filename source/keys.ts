/**
 * Cache key layout (docs/architecture.md, Keys and entries):
 *
 *   {ns}:ns                          namespace token (rotated by flush())
 *   {ns}:{model}:{shape}:e           model epoch token (rotated by bulk writes, invalidate(Model))
 *   {ns}:{model}:{shape}:r:{pk}      row entry or tombstone
 *   {ns}:{model}:{shape}:l           list epoch (rotated when rows changed in unknown ways)
 *   {ns}:{model}:{shape}:s           scheme registry (its token, and the schemes in use)
 *   {ns}:{model}:{shape}:c:{id}      conjunction token
 *   {ns}:{model}:{shape}:q:{hash}    list entry
 *   {ns}:{model}:{shape}:w           write mark: writes of the model in flight (a counter)
 *
 * Primary key text is the decimal digits for integer keys and a digest for
 * everything else, so no where-value can form an unsafe or colliding key.
 */
import type { AttributeInfo, ModelSchema } from './model-schema';
import { digest } from './util';

const INTEGER_TEXT = /^-?(0|[1-9]\d{0,19})$/;
const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Printable ASCII without spaces: case is folded for the key (MariaDB's
// default collations compare case-insensitively), and trailing spaces, which
// PAD SPACE collations ignore, cannot occur.
const STRING_TEXT = /^[\x21-\x7e]{1,191}$/;

/**
 * The canonical text of one primary key value, or `undefined` when the value
 * is not one the row path can look up safely (the query then goes to the
 * database). Two values that the database treats as the same row must map to
 * the same text, or a write would tombstone one key while a stale copy sits
 * under the other: `'5'` and `5` both become `5`, `'05'` is refused; UUIDs
 * and short ASCII strings are lower-cased.
 */
export function keyValueText(attribute: AttributeInfo, value: unknown): string | undefined {
  switch (attribute.keyKind) {
    case 'integer': {
      if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : undefined;
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'string' && INTEGER_TEXT.test(value)) return value;
      return undefined;
    }
    case 'uuid':
      return typeof value === 'string' && UUID_TEXT.test(value) ? value.toLowerCase() : undefined;
    case 'string':
      return typeof value === 'string' && STRING_TEXT.test(value) ? value.toLowerCase() : undefined;
    default:
      return undefined;
  }
}

/** Key text of a whole primary key (one value per primary key attribute). */
export function primaryKeyText(schema: ModelSchema, values: readonly unknown[]): string | undefined {
  if (values.length !== schema.primaryKeys.length || values.length === 0) return undefined;
  const parts: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const text = keyValueText(schema.primaryKeys[i] as AttributeInfo, values[i]);
    if (text === undefined) return undefined;
    parts.push(text);
  }
  const only = schema.primaryKeys.length === 1 ? schema.primaryKeys[0] : undefined;
  if (only?.keyKind === 'integer') return parts[0];
  return `~${digest(JSON.stringify(parts))}`;
}

/** Key text of the row held in `row` (keyed by attribute name). */
export function rowKeyText(schema: ModelSchema, row: Record<string, unknown>): string | undefined {
  return primaryKeyText(
    schema,
    schema.primaryKeys.map((a) => row[a.name]),
  );
}

/** Builds every key of one namespace. */
export class KeySpace {
  constructor(readonly namespace: string) {}

  /** The namespace token every entry depends on; `flush()` rotates it. */
  namespaceToken(): string {
    return `${this.namespace}:ns`;
  }

  /** The model's epoch token. */
  epoch(schema: ModelSchema): string {
    return `${this.namespace}:${schema.keyName}:${schema.hash}:e`;
  }

  /** Token every list entry of the model depends on (not the rows). */
  listEpoch(schema: ModelSchema): string {
    return `${this.#prefix(schema)}:l`;
  }

  /** The model's scheme registry. */
  registry(schema: ModelSchema): string {
    return `${this.#prefix(schema)}:s`;
  }

  /** A conjunction token (id from `conjunctionId`). */
  conjunction(schema: ModelSchema, id: string): string {
    return `${this.#prefix(schema)}:c:${id}`;
  }

  /** The model's write mark: how many of its writes are between their first invalidation and their last. */
  writes(schema: ModelSchema): string {
    return `${this.#prefix(schema)}:w`;
  }

  /**
   * The model's warm token: rows copied in by a warming read (which has no
   * CAS baseline from before its query) record it, and a write's last
   * tombstones rotate it (source/rows/row-cache.ts).
   */
  warm(schema: ModelSchema): string {
    return `${this.#prefix(schema)}:h`;
  }

  /** A list entry (hash of the canonical query). */
  list(schema: ModelSchema, hash: string): string {
    return `${this.#prefix(schema)}:q:${hash}`;
  }

  #prefix(schema: ModelSchema): string {
    return `${this.namespace}:${schema.keyName}:${schema.hash}`;
  }

  /** The row entry of one primary key (text from {@link primaryKeyText}). */
  row(schema: ModelSchema, pkText: string): string {
    return `${this.namespace}:${schema.keyName}:${schema.hash}:r:${pkText}`;
  }
}
