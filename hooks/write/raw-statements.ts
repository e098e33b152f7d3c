/**
 * Statements that reach `sequelize.query` without the mark of a query
 * interface write: raw SQL and DDL, recognised from their text
 * (source/sql-text.ts).
 */
import type { InvalidationCause } from '../../source/metrics/snapshot';
import type { ModelSchema } from '../../source/model-schema';
import { statementWrites } from '../../source/sql-text';
import type { WriteContext, WriteMoment } from '../cache-context';
import { modelsByTable } from '../tables';
import { cascadeTargets } from './cascade';
import { keysChanged, type Options } from './invalidate';

/**
 * A statement that reaches `sequelize.query` without the mark of a query
 * interface write (raw SQL, DDL such as sync's CREATE/DROP TABLE, ALTER
 * TABLE of migrations), run like a query interface write: the epoch of every
 * cached model whose table the text may write is rotated before and after
 * it, and of the models the database cascades to from any written table
 * (cached or not: deleting uncached authors still deletes cached articles).
 */
export function rawStatement<T>(cache: WriteContext, options: Options, sql: string, run: () => Promise<T>): Promise<T> {
  // The models are looked up only for a statement that writes (most are reads).
  let byTable: Map<string, unknown[]> | undefined;
  const known = () => [...(byTable ??= modelsByTable(cache.sequelize.models)).keys()];
  const { tables: written, ddl } = statementWrites(sql, known);
  const tables = written === 'all' ? known() : written;
  if (tables.length === 0) return run();
  const cause: InvalidationCause = ddl ? 'sync' : 'raw';
  const own = tables
    .flatMap((table) => byTable?.get(table) ?? [])
    .map((model) => cache.schemaOf(model))
    .filter((schema): schema is ModelSchema => schema !== undefined);
  const cascaded = tables.flatMap((table) => cascadeTargets(cache, table)).filter((s) => !own.includes(s));
  const schemas = [...new Set([...own, ...cascaded])];
  const invalidate = (at: WriteMoment) =>
    Promise.all(schemas.map((schema) => keysChanged(cache, schema, options, undefined, own.includes(schema) ? cause : 'cascade', at)));
  const first = (generations: ReadonlyMap<ModelSchema, number>) => invalidate({ phase: 'before', generations });
  return cache.whileWriting(options, schemas, first, async (generations) => {
    try {
      return await run();
    } finally {
      await invalidate({ phase: 'after', generations });
    }
  });
}
