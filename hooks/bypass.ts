/**
 * What the first bypass of each reason reports (docs/metrics.md, Bypass
 * reasons): the shape of the query, its option names and the models of its
 * include tree, never its values (they may be personal data).
 */
import type { BypassReason, ReadKind } from '../source/metrics/snapshot';

/** The `bypass` event: the first read of a model and kind that skipped the cache for this reason. */
export interface BypassEvent {
  model: string;
  kind: ReadKind;
  reason: BypassReason;
  /** The query's shape, for example `include(Tag[through ArticleTag]) limit order where(published)`. */
  shape: string;
}

/** Keys Sequelize derives from the others while preparing a find (they say nothing the user wrote). */
const DERIVED = new Set([
  'includeNames', 'includeMap', 'hasJoin', 'hasSingleAssociation', 'hasMultiAssociation', 'topModel', 'topLimit',
  'hasDuplicating', 'hasRequired', 'hasWhere', 'hasIncludeWhere', 'hasIncludeRequired', 'includeIgnoreAttributes',
  'originalAttributes', 'tableNames', 'type', 'model', 'hooks', 'rejectOnEmpty', 'logging', 'benchmark', 'mapToModel',
  'hasParentWhere', 'hasParentRequired', 'subQueryFilter', 'duplicating', 'attributes',
]);

type Include = { model?: { name?: unknown }; as?: unknown; through?: { model?: { name?: unknown } }; include?: unknown };

function includeNames(includes: unknown, through?: unknown): string {
  if (!Array.isArray(includes)) return '';
  return (includes as Include[])
    // Sequelize lists a belongsToMany's through model among its children too.
    .filter((i) => through === undefined || i.model !== through)
    .map((i) => {
      const name = String(i.model?.name ?? '?');
      const alias = typeof i.as === 'string' && i.as !== name ? ` as ${i.as}` : '';
      const through = i.through?.model?.name ? `[through ${String(i.through.model.name)}]` : '';
      const children = includeNames(i.include, i.through?.model);
      return `${name}${alias}${through}${children ? `(${children})` : ''}`;
    })
    .join(',');
}

/** The shape of a query's options: the names of the options set, the where's top-level keys, the include tree's models. */
export function queryShape(options: object | undefined): string {
  if (!options) return '';
  const given = options as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(given).sort()) {
    const value = given[key];
    if (value === undefined || value === null || value === false || DERIVED.has(key)) continue;
    if (key === 'include') parts.push(`include(${includeNames(value)})`);
    else if (key === 'where' && typeof value === 'object') parts.push(`where(${Object.keys(value).join(',')})`);
    else parts.push(key);
  }
  return parts.join(' ');
}
