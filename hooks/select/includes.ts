/**
 * Which include trees can be stored as pointer trees (pointer-tree.ts), read
 * off Sequelize's processed includes: every level a known association type
 * reading full rows of a cached model. Each include records its relation
 * (the child's foreign key = the parent's key), whose conjunction tokens a
 * child write rotates, and whether it filters parents beyond that relation.
 */
import type { Model, ModelStatic } from 'sequelize';
import { conditionText, conjunctionId } from '../../source/tokens/conjunctions';
import type { AttributeInfo, ModelSchema } from '../../source/model-schema';
import type { SchemaLookup } from '../cache-context';
import { type Column, isFullRow, projection } from '../columns';
import { onlyParanoid } from '../where';

/**
 * The children of one parent as a relation: the rows of `schema` whose
 * `field` equals the parent's `sourceKey` (the child's foreign key; for
 * belongsToMany, the through row's). A write to such a row rotates the
 * conjunction token of `field` = its old and new values, which is exactly the
 * token of the parents it leaves and joins.
 */
export interface Relation {
  schema: ModelSchema;
  field: string;
  sourceKey: string;
}

/** One include, resolved for pointer storage. */
export interface IncludeInfo {
  as: string;
  model: ModelStatic<Model>;
  schema: ModelSchema;
  single: boolean;
  columns: Column[];
  through?: { as: string; model: ModelStatic<Model>; schema: ModelSchema; columns: Column[] };
  /** For hasOne / hasMany / belongsToMany; belongsTo follows the parent row's foreign key. */
  relation?: Relation;
  /** For belongsTo: the parent's foreign key attribute and the child's key it points at. */
  belongsTo?: { foreignKey: string; targetKey: string };
  /**
   * Whether the include can change which parents (or children) appear beyond
   * its relation (required, where, right join, ordering under a limit): then
   * any write of its model invalidates the entry.
   */
  filters: boolean;
  children: IncludeInfo[];
}

/** The parts of a processed include read here. */
type RawInclude = {
  model?: unknown;
  as?: unknown;
  separate?: unknown;
  required?: unknown;
  where?: unknown;
  right?: unknown;
  on?: unknown;
  attributes?: unknown[];
  association?: { associationType?: unknown; isSingleAssociation?: unknown; foreignKey?: unknown; sourceKey?: unknown; targetKey?: unknown };
  through?: { model?: unknown; as?: unknown; attributes?: unknown[]; where?: unknown };
  include?: RawInclude[];
};

/** The relation of a hasOne / hasMany / belongsToMany include, when its key values are comparable. */
function relationOf(include: RawInclude, target: ModelSchema, through: ModelSchema | undefined): Relation | undefined {
  const schema = through ?? target;
  const field = include.association?.foreignKey;
  const sourceKey = include.association?.sourceKey;
  if (typeof field !== 'string' || typeof sourceKey !== 'string') return undefined;
  const attribute = schema.byName.get(field);
  if (!attribute || attribute.conditionKind === 'other') return undefined;
  return { schema, field, sourceKey };
}

/**
 * The include tree in pointer form, or undefined when some level cannot be.
 * @param looseOrder - the query orders by included columns under a limit or
 *   offset, so a child write can move parents in or out: every include filters.
 */
export function pointerIncludes(cache: SchemaLookup, includes: unknown, looseOrder = false): IncludeInfo[] | undefined {
  if (!Array.isArray(includes)) return [];
  const out: IncludeInfo[] = [];
  for (const include of includes as RawInclude[]) {
    // Separate includes are not part of the join: findAll loads them afterwards.
    if (include.separate) continue;
    const type = include.association?.associationType;
    if (!['BelongsTo', 'HasOne', 'HasMany', 'BelongsToMany'].includes(String(type))) return undefined;
    const schema = cache.schemaOf(include.model);
    const columns = schema && projection(schema, include.attributes);
    if (!schema || !isFullRow(schema, columns) || typeof include.as !== 'string') return undefined;
    let through: IncludeInfo['through'];
    if (type === 'BelongsToMany') {
      const throughSchema = cache.schemaOf(include.through?.model);
      const throughColumns = throughSchema && projection(throughSchema, include.through?.attributes);
      if (!throughSchema || !isFullRow(throughSchema, throughColumns) || typeof include.through?.as !== 'string') return undefined;
      through = { as: include.through.as, model: include.through.model as ModelStatic<Model>, schema: throughSchema, columns: throughColumns };
    }
    const children = pointerIncludes(cache, include.include, looseOrder);
    if (!children) return undefined;
    const relation = type === 'BelongsTo' ? undefined : relationOf(include, schema, through?.schema);
    const { foreignKey, targetKey } = include.association ?? {};
    const belongsTo =
      type === 'BelongsTo' && typeof foreignKey === 'string' && typeof targetKey === 'string' ? { foreignKey, targetKey } : undefined;
    // The paranoid clause Sequelize puts in an include's where only hides
    // soft-deleted children, and a soft delete rotates the relation's tokens.
    const where = include.where === undefined || onlyParanoid(schema, include.where) ? undefined : include.where;
    const filters =
      looseOrder ||
      !!(include.required || where || include.right || include.on || include.through?.where) ||
      (type !== 'BelongsTo' && !relation);
    out.push({
      as: include.as,
      model: include.model as ModelStatic<Model>,
      schema,
      single: include.association?.isSingleAssociation === true,
      columns,
      through,
      relation,
      belongsTo,
      filters,
      children,
    });
  }
  return out;
}

/** Every relation of an include tree (to register and snapshot before the database read). */
export function relationsOf(includes: IncludeInfo[], into: Relation[] = []): Relation[] {
  for (const include of includes) {
    if (include.relation && !include.filters) into.push(include.relation);
    relationsOf(include.children, into);
  }
  return into;
}

/**
 * The relation token keys of grouped rows: for each parent and each of its
 * includes with a relation, the conjunction `field = parent's key`.
 * `undefined` when a parent's key is not comparable (nothing is stored then).
 */
export function relationKeys(
  cache: SchemaLookup,
  includes: IncludeInfo[],
  grouped: Record<string, unknown>[],
): Set<string> | undefined {
  const keys = new Set<string>();
  const walk = (objects: Record<string, unknown>[], level: IncludeInfo[]): boolean => {
    for (const object of objects) {
      for (const include of level) {
        if (include.relation && !include.filters) {
          const { schema, field, sourceKey } = include.relation;
          const text = conditionText(schema.byName.get(field) as AttributeInfo, object[sourceKey]);
          if (text === undefined) return false;
          keys.add(cache.keys.conjunction(schema, conjunctionId([field], [text])));
        }
        const value = object[include.as];
        const children = (Array.isArray(value) ? value : value ? [value] : []) as Record<string, unknown>[];
        if (!walk(children, include.children)) return false;
      }
    }
    return true;
  };
  return walk(grouped, includes) ? keys : undefined;
}
