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
import type { BypassReason } from '../../source/metrics/snapshot';
import type { ModelSchema } from '../../source/model-schema';
import type { ReadContext } from '../cache-context';
import { mentionsExcluded } from '../columns';
import { checkCacheOption, perQuery, queryTtl, refreshRequested, type SelectFn, type SelectOptions } from '../query-options';
import { currentTransaction, transactionalRead } from '../transactions';
import { entryOf } from './entry-key';
import type { FastFind } from './fast-find';
import { FORGET, Forgotten, forgetEntry } from './forget';
import { listSelect } from './list-select';
import { rowSelect } from './row-select';
import { shapeOf } from './shape';
import { treeSelect } from './tree-select';
import { wholeSelect } from './whole-select';

/**
 * Why a keyable read must still go to the database, if it must: opt-in mode
 * without a `cache` option, a replay in progress, or an excluded attribute.
 */
export function refusal(cache: ReadContext, schema: ModelSchema, options: SelectOptions, attributeSelectors: unknown[] = []): BypassReason | undefined {
  if (cache.options.mode === 'opt-in' && options.cache === undefined) return 'opt-in';
  if (cache.suspended) return 'suspended';
  if (cache.excluding && mentionsExcluded(schema, options, (m) => cache.schemaOf(m), attributeSelectors)) return 'excluded-attribute';
  return undefined;
}

/**
 * Why a read inside a transaction must go to the database, if it runs in
 * one and must (hooks/transactions.ts); `models` are what it depends on.
 */
export function transactionRefusal(cache: ReadContext, options: SelectOptions, models: readonly ModelSchema[]): BypassReason | undefined {
  const transaction = currentTransaction(cache.sequelize, options);
  if (!transaction) return undefined;
  if (refreshRequested(options)) return 'transaction-refresh';
  return transactionalRead(transaction, cache.options.serverIsolationLevel, models);
}

/**
 * The select wrapper: primary-key reads from the row cache, include-free
 * queries as pointer lists, includes as pointer trees, other shapes as whole
 * values; `cache: false`, unknown shapes and the reads {@link refusal} and
 * {@link transactionRefusal} name go straight through, counted with their reason.
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
    if (!schema || !options) return direct(options);
    fast.patch(model);
    const how = shapeOf(cache, schema, options);
    const kind = typeof how !== 'string' && how.kind === 'row' ? 'row' : 'list';
    const bypass = (reason: BypassReason) => {
      cache.bypass(schema.name, kind, reason, options);
      return direct(options);
    };
    if (options.cache === false) return bypass('cache-false');
    if (typeof how === 'string') return bypass(how);
    const refused = refusal(cache, schema, options);
    if (refused) return bypass(refused);
    const entry = how.kind === 'row' ? undefined : entryOf(cache, schema, tableName, options, how);
    if (typeof entry === 'string') return bypass(entry);
    const inTransaction = transactionRefusal(cache, options, entry?.models ?? [schema]);
    if (inTransaction) return bypass(inTransaction);
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
      const ref = entry as EntryRef; // an EntryRef for every other kind (checked above)
      if (how.kind === 'whole') return await wholeSelect(cache, meter, run, model, options, ref, ttl);
      if (how.kind === 'tree') return await treeSelect(cache, meter, selectFor, model, schema, options, how, ref, ttl);
      return await listSelect(cache, meter, run, model, schema, options, how.columns, ref, ttl);
    } finally {
      meter.done();
    }
  };
}
