/**
 * Answers built from cached rows exactly as Sequelize's `handleSelectQuery`
 * builds them from a query's rows: the same `bulkBuild` calls, and for joins
 * the same grouping (`_groupJoinData`), so instances, include shapes and
 * `raw`/`plain` results are the same as uncached.
 */
import type { Model, ModelStatic, Sequelize } from 'sequelize';
import { type Column, project } from '../columns';
import type { SelectOptions } from '../query-options';

/** bulkBuild as handleSelectQuery calls it (its `attributes` option is not in the typings). */
interface Builder {
  bulkBuild(rows: Record<string, unknown>[], options: Record<string, unknown>): Model[];
}

/** Instances of `model` from plain rows, with handleSelectQuery's options (plus `extra`); `plain` gives the first or null. */
function build(model: ModelStatic<Model>, options: SelectOptions, rows: Record<string, unknown>[], extra: Record<string, unknown> = {}): unknown {
  const result = options.raw
    ? rows
    : (model as unknown as Builder).bulkBuild(rows, {
        isNewRecord: false,
        raw: true,
        attributes: options.originalAttributes ?? options.attributes,
        ...extra,
      });
  return options.plain ? (result[0] ?? null) : result;
}

/** What `sequelize.query` would have returned for this select, built from cached full rows. */
export function buildResult(model: ModelStatic<Model>, options: SelectOptions, columns: readonly Column[], rows: Record<string, unknown>[]): unknown {
  return build(model, options, rows.map((row) => project(row, columns)));
}

/** The query's Query class (for `_groupJoinData`), reached through the instance. */
type GroupJoin = (rows: unknown[], include: Record<string, unknown>, options: Record<string, unknown>) => Record<string, unknown>[];

/** Sequelize's grouping of flat joined rows into nested objects (what handleSelectQuery does). */
export function groupJoin(sequelize: Sequelize, model: ModelStatic<Model>, options: SelectOptions, rows: Record<string, unknown>[]): Record<string, unknown>[] {
  const Query = (sequelize as unknown as { dialect: { Query: { _groupJoinData: GroupJoin } } }).dialect.Query;
  return Query._groupJoinData(
    rows,
    { model, includeMap: options.includeMap, includeNames: options.includeNames },
    { checkExisting: options.hasMultiAssociation },
  );
}

/** Instances from nested objects, as handleSelectQuery builds them. */
export function buildNested(model: ModelStatic<Model>, options: SelectOptions, nested: Record<string, unknown>[]): unknown {
  return build(model, { ...options, raw: false }, nested, {
    include: options.include,
    includeNames: options.includeNames,
    includeMap: options.includeMap,
    includeValidated: true,
  });
}

/** What handleSelectQuery builds from flat joined rows: the same calls, so the same include shape. */
export function buildFromFlat(sequelize: Sequelize, model: ModelStatic<Model>, options: SelectOptions, rows: Record<string, unknown>[]): unknown {
  if (options.hasJoin === true && !options.raw) return buildNested(model, options, groupJoin(sequelize, model, options, rows));
  return build(model, options, rows);
}
