/**
 * Includes as pointers (docs/architecture.md, Keys and entries): a query with
 * includes is stored as a tree of primary keys — each parent's children per
 * include, in the order the database returned them, belongsToMany children
 * with their through row's key — and every row lives once, in the row cache.
 * The tree is taken from Sequelize's own grouping of the joined rows
 * (`_groupJoinData`), and the hit path rebuilds exactly the nested objects
 * that grouping produces, so `bulkBuild` makes the same instances.
 *
 * Only include trees whose every level reads full rows are represented this
 * way (includes.ts); anything else (attribute subsets, `raw`) stays a whole
 * value.
 */
import { decodeValue, encodeValue } from '../../source/codec';
import { primaryKeyText } from '../../source/keys';
import type { PkValues } from '../../source/lists/entry-format';
import type { ModelSchema } from '../../source/model-schema';
import { type Column, project } from '../columns';
import type { IncludeInfo } from './includes';

/** A node: [pk, throughPk | null, ...one slot per include (node | null | node[])]. */
export type Node = unknown[];

/** A row's primary key, encoded; undefined for a missing or NULL part. */
const encodePk = (schema: ModelSchema, row: Record<string, unknown>): unknown[] | undefined => {
  const values = schema.primaryKeys.map((a) => encodeValue(row[a.name]));
  return values.some((v) => v === undefined || v === null) ? undefined : values;
};

/** Rows to fill, by schema, collected while encoding. */
export type RowsBySchema = Map<ModelSchema, Record<string, unknown>[]>;

/** The stored attributes of a grouped object. */
function rowOf(schema: ModelSchema, object: Record<string, unknown>): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const attribute of schema.attributes) row[attribute.name] = object[attribute.name];
  return row;
}

/** Add a row to fill. */
function collect(rows: RowsBySchema, schema: ModelSchema, row: Record<string, unknown>): void {
  let list = rows.get(schema);
  if (!list) rows.set(schema, (list = []));
  list.push(row);
}

/** One object of the grouping as a node; undefined when a key cannot be encoded. */
function encodeNode(
  schema: ModelSchema,
  object: Record<string, unknown>,
  includes: IncludeInfo[],
  rows: RowsBySchema,
  through?: IncludeInfo['through'],
): Node | undefined {
  const pk = encodePk(schema, object);
  if (!pk) return undefined;
  collect(rows, schema, rowOf(schema, object));
  let throughPk: unknown[] | null = null;
  if (through) {
    const link = object[through.as] as Record<string, unknown> | undefined;
    if (!link) return undefined;
    throughPk = encodePk(through.schema, link) ?? null;
    if (!throughPk) return undefined;
    collect(rows, through.schema, rowOf(through.schema, link));
  }
  const node: Node = [pk, throughPk];
  for (const include of includes) {
    const value = object[include.as];
    if (include.single) {
      const child = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
      // Grouping leaves an all-NULL object for an unmatched LEFT JOIN; the build turns it into null.
      if (!child || child[include.schema.primaryKeys[0]?.name as string] === null) {
        node.push(null);
        continue;
      }
      const encoded = encodeNode(include.schema, child, include.children, rows, include.through);
      if (!encoded) return undefined;
      node.push(encoded);
    } else {
      const list = Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
      const present = list.filter((c) => c && c[include.schema.primaryKeys[0]?.name as string] !== null);
      const encoded = present.map((c) => encodeNode(include.schema, c, include.children, rows, include.through));
      if (encoded.some((e) => !e)) return undefined;
      node.push(encoded);
    }
  }
  return node;
}

/** The pointer tree of grouped (nested) rows; undefined when a key cannot be encoded. */
export function encodeTree(
  schema: ModelSchema,
  grouped: Record<string, unknown>[],
  includes: IncludeInfo[],
): { tree: Node[]; rows: RowsBySchema } | undefined {
  const rows: RowsBySchema = new Map();
  const tree: Node[] = [];
  for (const object of grouped) {
    const node = encodeNode(schema, object, includes, rows);
    if (!node) return undefined;
    tree.push(node);
  }
  return { tree, rows };
}

/** Every primary key the tree points to, by schema. */
export function treeKeys(schema: ModelSchema, tree: Node[], includes: IncludeInfo[]): Map<ModelSchema, PkValues[]> {
  const keys = new Map<ModelSchema, Map<string, PkValues>>();
  const add = (s: ModelSchema, encoded: unknown) => {
    const pk = (encoded as unknown[]).map(decodeValue);
    const text = primaryKeyText(s, pk);
    if (text === undefined) throw new TypeError('unkeyable pointer');
    let m = keys.get(s);
    if (!m) keys.set(s, (m = new Map()));
    m.set(text, pk);
  };
  const walk = (s: ModelSchema, node: Node, level: IncludeInfo[], through?: IncludeInfo['through']) => {
    add(s, node[0]);
    if (through) add(through.schema, node[1]);
    level.forEach((include, i) => {
      const slot = node[i + 2];
      if (slot === null) return;
      const children = include.single ? [slot as Node] : (slot as Node[]);
      for (const child of children) walk(include.schema, child, include.children, include.through);
    });
  };
  for (const node of tree) walk(schema, node, includes);
  return new Map([...keys].map(([s, m]) => [s, [...m.values()]]));
}

/** Rows by schema and key text, as the hit path fetched them. */
export type RowIndex = Map<ModelSchema, Map<string, Record<string, unknown>>>;

/** Whether two key values are the same (the database's integers may come back as numbers or strings). */
function sameKey(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  return a instanceof Buffer || b instanceof Buffer ? Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b) : String(a) === String(b);
}

/**
 * The nested objects `_groupJoinData` would have produced, from the tree and
 * the rows; `undefined` when a row no longer joins the parent the tree puts
 * it under (a write to it landed between the tree's and the rows' lookups,
 * and is invalidating the tree): mixing the two would give an answer no
 * database read could, such as an article with another author's row.
 */
export function rebuildTree(
  schema: ModelSchema,
  columns: Column[],
  tree: Node[],
  includes: IncludeInfo[],
  index: RowIndex,
): Record<string, unknown>[] | undefined {
  const fetch = (s: ModelSchema, encoded: unknown) =>
    index.get(s)?.get(primaryKeyText(s, (encoded as unknown[]).map(decodeValue)) as string) as Record<string, unknown>;
  class Torn extends Error {}
  const build = (s: ModelSchema, cols: Column[], node: Node, level: IncludeInfo[], through?: IncludeInfo['through']) => {
    const row = fetch(s, node[0]);
    const object = project(row, cols);
    const link = through ? fetch(through.schema, node[1]) : undefined;
    if (through) object[through.as] = project(link as Record<string, unknown>, through.columns);
    level.forEach((include, i) => {
      const slot = node[i + 2];
      const children = slot === null ? [] : include.single ? [slot as Node] : (slot as Node[]);
      for (const child of children) {
        const childRow = fetch(include.schema, child[0]);
        const joined = include.belongsTo
          ? sameKey(row[include.belongsTo.foreignKey], childRow[include.belongsTo.targetKey])
          : !include.relation ||
            sameKey(
              (include.through ? fetch(include.through.schema, child[1]) : childRow)[include.relation.field],
              row[include.relation.sourceKey],
            );
        if (!joined) throw new Torn();
      }
      if (include.single) {
        object[include.as] = slot === null ? null : build(include.schema, include.columns, slot as Node, include.children, include.through);
      } else {
        object[include.as] = (slot as Node[]).map((child) => build(include.schema, include.columns, child, include.children, include.through));
      }
    });
    return object;
  };
  try {
    return tree.map((node) => build(schema, columns, node, includes));
  } catch (error) {
    if (error instanceof Torn) return undefined;
    throw error;
  }
}
