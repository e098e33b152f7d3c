/**
 * What the cache needs to know about a model, read once from its attribute
 * definitions: which attributes make a full row, how each is encoded, the
 * primary key, the paranoid column, and a hash of the shape so that a deploy
 * that changes the model can never read an old-shaped entry.
 *
 * Only data is read from the model class (no Sequelize runtime import), so the
 * plugin works with whichever copy of the sequelize module the app uses.
 */
import { sha256 } from './util';

/** How a value of an attribute is written into an entry. */
export type ValueKind = 'date' | 'json' | 'plain';

/** How primary key values are turned into key text. */
export type KeyKind = 'integer' | 'uuid' | 'string' | 'other';

/** How where-condition values are compared for conjunction tokens. */
export type ConditionKind = 'integer' | 'boolean' | 'text' | 'other';

export interface AttributeInfo {
  /** Attribute name (what instances and raw results are keyed by). */
  name: string;
  /** Column name. */
  field: string;
  kind: ValueKind;
  keyKind: KeyKind;
  conditionKind: ConditionKind;
}

export interface ModelSchema {
  name: string;
  /** Model name as used in keys (digest when not key-safe). */
  keyName: string;
  /** Short digest of the attribute definitions. */
  hash: string;
  /** Every stored (non-virtual) attribute, in definition order. */
  attributes: AttributeInfo[];
  primaryKeys: AttributeInfo[];
  /** Attribute by column name, and by attribute name. */
  byField: Map<string, AttributeInfo>;
  byName: Map<string, AttributeInfo>;
  /**
   * The paranoid `deletedAt` attribute when rows are soft-deleted and "not
   * deleted" is NULL (the only default the row path evaluates in memory).
   */
  paranoid: AttributeInfo | undefined;
  /** Paranoid with a non-NULL default for deletedAt: the row path is not used. */
  paranoidUnsupported: boolean;
  /**
   * Attributes kept out of the cache (`models: { X: { exclude } }`), by
   * attribute name and by column name: never stored, and a query that
   * mentions one goes to the database.
   */
  excluded: ReadonlySet<string>;
  /**
   * Attributes the database may change when a row is updated, whatever the
   * statement sets (`models: { X: { computed } }`, and those whose SQL
   * default or type says `ON UPDATE` or `GENERATED`): every update counts as
   * changing them.
   */
  computed: ReadonlySet<string>;
}

/** The subset of a Sequelize model class the schema reader uses. */
export interface ModelLike {
  readonly name: string;
  readonly rawAttributes: Record<string, { field?: string; type?: unknown; primaryKey?: boolean; defaultValue?: unknown }>;
  readonly primaryKeyAttributes: readonly string[];
  readonly options: { paranoid?: boolean; timestamps?: boolean };
  readonly _timestampAttributes?: { deletedAt?: string };
}

function typeKey(type: unknown): string {
  if (!type) return 'UNKNOWN';
  const t = type as { key?: unknown; constructor?: { key?: unknown } };
  const key = typeof t.key === 'string' ? t.key : typeof t.constructor?.key === 'string' ? t.constructor.key : 'UNKNOWN';
  return key;
}

function typeText(type: unknown): string {
  try {
    return String((type as { toString(): string }).toString());
  } catch {
    return typeKey(type);
  }
}

function valueKind(key: string): ValueKind {
  if (key === 'DATE') return 'date';
  if (key === 'JSON' || key === 'JSONB') return 'json';
  return 'plain';
}

function conditionKind(key: string): ConditionKind {
  if (keyKind(key) === 'integer') return 'integer';
  if (key === 'BOOLEAN') return 'boolean';
  if (key === 'STRING' || key === 'CHAR' || key === 'TEXT' || key === 'ENUM' || key === 'UUID' || key === 'CITEXT') return 'text';
  return 'other';
}

function keyKind(key: string): KeyKind {
  if (key === 'INTEGER' || key === 'BIGINT' || key === 'SMALLINT' || key === 'MEDIUMINT' || key === 'TINYINT') {
    return 'integer';
  }
  if (key === 'UUID' || key === 'UUIDV1' || key === 'UUIDV4') return 'uuid';
  if (key === 'STRING' || key === 'CHAR') return 'string';
  return 'other';
}

const cache = new WeakMap<object, Map<string, ModelSchema>>();

/** SQL the database evaluates on updates: `ON UPDATE CURRENT_TIMESTAMP`, generated columns. */
const UPDATED_BY_DATABASE = /\bon\s+update\b|\bgenerated\b|\bas\s*\(/i;

/** Whether an attribute's definition shows the database changing it on updates. */
function changedByDatabase(definition: { type?: unknown; defaultValue?: unknown }): boolean {
  const fallback = definition.defaultValue as { val?: unknown } | undefined;
  if (fallback && typeof fallback === 'object' && typeof fallback.val === 'string' && UPDATED_BY_DATABASE.test(fallback.val)) return true;
  return typeof definition.type === 'string' && UPDATED_BY_DATABASE.test(definition.type);
}

/**
 * The schema of `model` without the `exclude`d attributes, with the
 * `computed` ones (models' option), recomputed whenever its attribute map is
 * replaced.
 */
export function modelSchema(model: ModelLike, exclude: readonly string[] = [], computedNames: readonly string[] = []): ModelSchema {
  const raw = model.rawAttributes;
  const variant = `${exclude.join(',')}|${computedNames.join(',')}`;
  let variants = cache.get(raw);
  const known = variants?.get(variant);
  if (known && known.name === model.name) return known;
  const excluded = new Set<string>();
  for (const name of exclude) {
    excluded.add(name);
    excluded.add(raw[name]?.field ?? name);
  }

  const attributes: AttributeInfo[] = [];
  for (const [name, definition] of Object.entries(raw)) {
    const key = typeKey(definition.type);
    if (key === 'VIRTUAL' || excluded.has(name)) continue;
    attributes.push({
      name,
      field: definition.field ?? name,
      kind: valueKind(key),
      keyKind: keyKind(key),
      conditionKind: conditionKind(key),
    });
  }
  const byName = new Map(attributes.map((a) => [a.name, a]));
  const byField = new Map(attributes.map((a) => [a.field, a]));
  const computed = new Set(computedNames);
  for (const [name, definition] of Object.entries(raw)) if (byName.has(name) && changedByDatabase(definition)) computed.add(name);
  const primaryKeys = model.primaryKeyAttributes.map((n) => byName.get(n)).filter((a): a is AttributeInfo => !!a);

  let paranoid: AttributeInfo | undefined;
  let paranoidUnsupported = false;
  const deletedAt = model._timestampAttributes?.deletedAt;
  if (model.options.paranoid && model.options.timestamps !== false && deletedAt) {
    const definition = raw[deletedAt];
    if (definition && definition.defaultValue !== undefined && definition.defaultValue !== null) {
      paranoidUnsupported = true;
    } else {
      paranoid = byName.get(deletedAt);
      paranoidUnsupported = !paranoid;
    }
  }

  // Exclusions are part of the shape: entries written before an attribute
  // was excluded (and so holding it) are never read under the new keys.
  const shape = JSON.stringify([
    Object.entries(raw).map(([name, d]) => [name, d.field ?? name, typeText(d.type), !!d.primaryKey]),
    ...(exclude.length > 0 ? [[...exclude].sort()] : []),
  ]);
  const hash = sha256(shape, 10);
  const keyName = /^[A-Za-z0-9_$.-]{1,64}$/.test(model.name)
    ? model.name
    : sha256(model.name, 16);

  const schema: ModelSchema = {
    name: model.name,
    keyName,
    hash,
    attributes,
    primaryKeys,
    byField,
    byName,
    paranoid,
    paranoidUnsupported,
    excluded,
    computed,
  };
  if (!variants) cache.set(raw, (variants = new Map()));
  variants.set(variant, schema);
  return schema;
}
