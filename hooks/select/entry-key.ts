/**
 * The entry of a list, tree, whole or count read: the hash of everything
 * that shapes its result (the canonical query text, source/lists/query-key.ts) and
 * the other models it depends on (includes, `dependsOn`, tables that SQL
 * literals read), mapped to keys by the entry cache.
 */
import { conjunctionOf, withReads } from '../../source/tokens/conjunctions';
import { aggregateReads, listReads } from './reads';
import type { EntryRef } from '../../source/lists/entry-cache';
import type { ModelSchema } from '../../source/model-schema';
import { canonicalText } from '../../source/lists/query-key';
import type { BypassReason } from '../../source/metrics/snapshot';
import { digest } from '../../source/util';
import type { ReadContext } from '../cache-context';
import type { IncludeInfo } from './includes';
import type { EntryRead } from '../../stampede/entry-cycle';
import { customKey, perQuery, refreshRequested, type SelectOptions, softTtlFor } from '../query-options';
import { tablesRead } from '../../source/sql-text';
import { modelsByTable } from '../tables';
import { lookupOnly } from '../transactions';
import type { Shape } from './shape';

/** The parts of a processed include that shape the result. */
type Include = {
  model?: unknown;
  as?: unknown;
  where?: unknown;
  required?: unknown;
  right?: unknown;
  attributes?: unknown;
  separate?: unknown;
  paranoid?: unknown;
  duplicating?: unknown;
  order?: unknown;
  limit?: unknown;
  through?: { model?: unknown; where?: unknown; attributes?: unknown; paranoid?: unknown };
  include?: Include[];
};

/** What of an include tree shapes the result (the processed tree also holds parents and associations). */
export function includeShape(includes: unknown): unknown {
  if (!Array.isArray(includes)) return null;
  return (includes as Include[]).map((i) => ({
    model: i.model,
    as: i.as,
    where: i.where,
    required: i.required,
    right: i.right,
    attributes: i.attributes,
    separate: i.separate,
    paranoid: i.paranoid,
    duplicating: i.duplicating,
    order: i.order,
    limit: i.limit,
    through: i.through ? { model: i.through.model, where: i.through.where, attributes: i.through.attributes, paranoid: i.through.paranoid } : null,
    include: includeShape(i.include),
  }));
}

/** Every model an include tree reads, through models included. */
export function includedModels(includes: unknown, into: unknown[] = []): unknown[] {
  if (!Array.isArray(includes)) return into;
  for (const i of includes as Include[]) {
    into.push(i.model);
    if (i.through?.model) into.push(i.through.model);
    includedModels(i.include, into);
  }
  return into;
}

/** The key hash of a query: its custom key, else the digest of its canonical text; or why it has none. */
function hashOf(options: SelectOptions, text: ReturnType<typeof canonicalText>): { hash: string } | { why: BypassReason } {
  const custom = customKey(options);
  if (custom !== undefined) return { hash: custom };
  return 'text' in text ? { hash: digest(text.text) } : text;
}

/**
 * The hash of everything that shapes the result, or why it is not
 * representable. The SQL text of its literals is pushed onto `sql`.
 */
function entryHash(tableName: unknown, options: SelectOptions, how: Exclude<Shape, { kind: 'row' }>, sql: string[]): { hash: string } | { why: BypassReason } {
  const columns = how.kind === 'list' ? how.columns : undefined;
  const text = canonicalText([
    how.kind,
    tableName,
    options.where,
    options.order,
    options.limit ?? null,
    options.offset ?? null,
    columns ? columns.map((c) => [c.as, c.from]) : options.attributes,
    includeShape(options.include),
    options.group,
    options.having,
    options.subQuery,
    !!options.raw,
    !!options.plain,
    !!options.nest,
    options.replacements,
    options.bind,
    options.indexHints,
  ], sql);
  return hashOf(options, text);
}

/**
 * Schemas of the other models an entry depends on: included models,
 * `dependsOn` (classes or names), and the models of every table the SQL text
 * of its literals (`sql`) reads; or why there are none: one of them is not
 * cached (its writes invalidate nothing, so the entry could go stale), or a
 * literal reads a table no model stores.
 */
function otherSchemas(cache: ReadContext, schema: ModelSchema, options: SelectOptions, sql: readonly string[]): ModelSchema[] | BypassReason {
  const cacheOption = perQuery(options);
  const perModel = cache.options.models[schema.name];
  const byName = (model: unknown) => (typeof model === 'string' ? cache.sequelize.models[model] : model);
  const models = [
    ...includedModels(options.include),
    ...(cacheOption.dependsOn ?? []).map(byName),
    ...((perModel && perModel.dependsOn) || []).map(byName),
  ];
  if (sql.length > 0) {
    const read = literalModels(cache, sql);
    if (!read) return 'literal-table';
    models.push(...read);
  }
  const schemas: ModelSchema[] = [];
  for (const model of models) {
    const other = cache.schemaOf(model);
    if (!other) return 'uncached-model';
    if (other !== schema && !schemas.includes(other)) schemas.push(other);
  }
  return schemas;
}

/** The models of every table literal SQL text reads; undefined when it reads a table no model stores. */
function literalModels(cache: ReadContext, sql: readonly string[]): unknown[] | undefined {
  const byTable = modelsByTable(cache.sequelize.models);
  const models: unknown[] = [];
  for (const text of sql) {
    const tables = tablesRead(text, [...byTable.keys()]);
    if (!tables) return undefined;
    for (const table of tables) models.push(...(byTable.get(table) ?? []));
  }
  return models;
}

/** The entry of a list, tree or whole read, or why the query cannot be keyed. */
export function entryOf(
  cache: ReadContext,
  schema: ModelSchema,
  tableName: unknown,
  options: SelectOptions,
  how: Exclude<Shape, { kind: 'row' }>,
): EntryRef | BypassReason {
  const sql: string[] = [];
  const hashed = entryHash(tableName, options, how, sql);
  if ('why' in hashed) return hashed.why;
  const others = otherSchemas(cache, schema, options, sql);
  if (typeof others === 'string') return others;
  const hash = hashed.hash;
  const loose = how.kind === 'tree' ? trackedByRelations(how.includes) : new Set<ModelSchema>();
  const reads = how.kind === 'list' ? listReads(schema, options) : how.kind === 'tree' ? listReads(schema, options, how.includes) : undefined;
  return cache.entries.ref(
    schema,
    hash,
    withReads(schema, conjunctionOf(schema, options.where), reads),
    others.filter((o) => !loose.has(o)),
    others.filter((o) => loose.has(o)),
  );
}

/**
 * Included models whose changes the tree's relation tokens and row entries
 * track, so that only writes of unknown rows (their epochs) must invalidate
 * the whole entry: models of includes that do not filter, and are not also
 * included somewhere that does.
 */
export function trackedByRelations(includes: IncludeInfo[]): Set<ModelSchema> {
  const loose = new Set<ModelSchema>();
  const strict = new Set<ModelSchema>();
  const walk = (level: IncludeInfo[]) => {
    for (const include of level) {
      const target = include.filters ? strict : loose;
      target.add(include.schema);
      if (include.through) target.add(include.through.schema);
      walk(include.children);
    }
  };
  walk(includes);
  for (const schema of strict) loose.delete(schema);
  return loose;
}

/** The entry of a count or aggregate (`rawSelect`), or why the query cannot be keyed. */
export function aggregateEntryOf(
  cache: ReadContext,
  schema: ModelSchema,
  tableName: unknown,
  options: SelectOptions,
  attributeSelector: unknown,
): EntryRef | BypassReason {
  const sql: string[] = [];
  const dataType = options.dataType as { key?: unknown } | undefined;
  const text = canonicalText([
    'aggregate',
    tableName,
    attributeSelector,
    options.where,
    includeShape(options.include),
    options.group,
    options.having,
    options.attributes,
    options.distinct,
    options.col,
    !!options.plain,
    options.limit ?? null,
    options.offset ?? null,
    options.order,
    typeof dataType?.key === 'string' ? dataType.key : null,
    options.replacements,
    options.bind,
  ], sql);
  const hashed = hashOf(options, text);
  if ('why' in hashed) return hashed.why;
  const others = otherSchemas(cache, schema, options, sql);
  if (typeof others === 'string') return others;
  return cache.entries.ref(schema, hashed.hash, withReads(schema, conjunctionOf(schema, options.where), aggregateReads(schema, options)), others);
}

/**
 * One read of the entry `ref` through the entry cycle: whether the query
 * forces a refresh, its soft TTL, and whether it only looks up (inside a
 * transaction the select wrapper let through).
 */
export function entryRead(cache: ReadContext, ref: EntryRef, options: SelectOptions): EntryRead {
  return {
    ref,
    refresh: refreshRequested(options),
    softTtl: softTtlFor(cache.options, ref.schema, options),
    lookupOnly: lookupOnly(cache, options),
  };
}
