/**
 * The select wrapper. Sequelize funnels findAll / findOne / findByPk (and
 * findAndCountAll's rows) into `queryInterface.select(model, table, options)`
 * after it has applied scopes, run beforeFind hooks, mapped attributes to
 * columns and added the paranoid clause, and it runs afterFind, rejectOnEmpty
 * and `separate` includes on whatever select returns. Answering there keeps
 * every one of those behaviours for cached reads.
 */
import type { Model, ModelStatic } from 'sequelize';
import type { EntryRef } from '../../source/lists/entry-cache';
import type { ReadContext } from '../cache-context';
import { mentionsExcluded } from '../columns';
import { checkCacheOption, perQuery, queryTtl, type SelectFn, type SelectOptions } from '../query-options';
import { currentTransaction } from '../transactions';
import { entryOf } from './entry-key';
import type { FastFind } from './fast-find';
import { FORGET, Forgotten, forgetEntry } from './forget';
import { listSelect } from './list-select';
import { rowSelect } from './row-select';
import { shapeOf } from './shape';
import { treeSelect } from './tree-select';
import { wholeSelect } from './whole-select';

/**
 * The select wrapper: primary-key reads from the row cache, include-free
 * queries as pointer lists, includes as pointer trees, other shapes as whole
 * values; transactions, `cache: false` and unknown shapes go straight through.
 */
export function cachedSelect(cache: ReadContext, original: SelectFn, fast: FastFind): SelectFn {
  return async function select(this: unknown, model, tableName, options) {
    fast.seen(model, options);
    const direct = (opts: SelectOptions) => original.call(this, model, tableName, opts);
    if (options?.cache !== undefined) checkCacheOption(model.name, options.cache, cache.sequelize.models);
    if (FORGET in perQuery(options)) {
      await forgetEntry(cache, model, tableName, options);
      throw new Forgotten();
    }
    const schema = cache.schemaOf(model);
    if (!schema || !options || options.cache === false) return direct(options);
    fast.patch(model);
    const how = shapeOf(cache, schema, options);
    const kind = how?.kind === 'row' ? 'row' : 'list';
    const bypass = () => {
      cache.metrics.model(schema.name)[kind].bypassed++;
      return direct(options);
    };
    if (!how || currentTransaction(cache.sequelize, options) || cache.suspended) return bypass();
    if (cache.options.mode === 'opt-in' && options.cache === undefined) return bypass();
    if (cache.excluding && mentionsExcluded(schema, options, (m) => cache.schemaOf(m))) return bypass();
    const entry = how.kind === 'row' ? undefined : entryOf(cache, schema, tableName, options, how);
    if (how.kind !== 'row' && !entry) return bypass();
    const meter = cache.metrics.meter(schema.name, kind);
    // Every statement a cached read runs is counted (dbQueries, and the
    // request's Server-Timing): misses, rows a list lacked, refreshes.
    // Every statement of a cached read goes to the primary (`useMaster`):
    // its result is stored, and a lagging replica would store the row as it
    // was before a write that has already returned (and invalidated). Hits
    // never reach the database at all.
    const selectFor = (other: ModelStatic<Model>) => (opts: SelectOptions) => {
      meter.query();
      return original.call(this, other, (other as unknown as { getTableName(): unknown }).getTableName(), { ...opts, useMaster: true });
    };
    const run = selectFor(model);
    const ttl = queryTtl(options) ?? cache.ttlFor(schema);
    try {
      if (how.kind === 'row') return await rowSelect(cache, meter, run, model, schema, options, how, ttl);
      const ref = entry as EntryRef; // set for every other kind (checked above)
      if (how.kind === 'whole') return await wholeSelect(cache, meter, run, model, options, ref, ttl);
      if (how.kind === 'tree') return await treeSelect(cache, meter, selectFor, model, schema, options, how, ref, ttl);
      return await listSelect(cache, meter, run, model, schema, options, how.columns, ref, ttl);
    } finally {
      meter.done();
    }
  };
}
