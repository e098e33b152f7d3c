/**
 * count / aggregate / findAndCountAll's count: `queryInterface.rawSelect`,
 * cached as whole values with the same dependencies as a list of the model
 * (plus included models).
 */
import type { EntryRef } from '../../source/lists/entry-cache';
import type { ReadMeter } from '../../source/metrics/metrics';
import { throughEntry } from '../../stampede/entry-cycle';
import type { ReadContext } from '../cache-context';
import type { BypassReason } from '../../source/metrics/snapshot';
import { checkCacheOption, queryTtl, type RawSelectFn, type SelectOptions } from '../query-options';
import { refusal, transactionRefusal } from './select-wrapper';
import { aggregateEntryOf, entryRead } from './entry-key';
import { unkeyedOption, WHOLE_KEYS } from './shape';

/** Options a count or aggregate may set and still be cached (the rest go to the database). */
const RAW_SELECT_KEYS = new Set([...WHOLE_KEYS, 'distinct', 'col', 'dataType', 'aggregateFunction']);

/** The rawSelect wrapper. */
export function cachedRawSelect(cache: ReadContext, original: RawSelectFn): RawSelectFn {
  return async function rawSelect(this: unknown, tableName, options, attributeSelector, model) {
    const direct = () => original.call(this, tableName, options, attributeSelector, model);
    if (options?.cache !== undefined) checkCacheOption(model?.name, options.cache, cache.sequelize.models);
    const schema = cache.schemaOf(model);
    if (!schema || !options) return direct();
    const bypass = (reason: BypassReason) => {
      cache.bypass(schema.name, 'count', reason, options);
      return direct();
    };
    if (options.cache === false) return bypass('cache-false');
    const unkeyed = unkeyedOption(options, RAW_SELECT_KEYS);
    if (unkeyed) return bypass(unkeyed);
    const refused = refusal(cache, schema, options, [attributeSelector]);
    if (refused) return bypass(refused);
    const ref = aggregateEntryOf(cache, schema, tableName, options, attributeSelector);
    if (typeof ref === 'string') return bypass(ref);
    const inTransaction = transactionRefusal(cache, options, ref.models);
    if (inTransaction) return bypass(inTransaction);
    const meter = cache.metrics.meter(schema.name, 'count');
    const run = () => {
      meter.query();
      // From the primary, as for selects: the result is stored.
      return original.call(this, tableName, { ...options, useMaster: true }, attributeSelector, model);
    };
    try {
      return await countThroughEntry(cache, meter, run, options, ref);
    } finally {
      meter.done();
    }
  };
}

/** A count or aggregate from its whole-value entry. */
function countThroughEntry(
  cache: ReadContext,
  meter: ReadMeter,
  run: () => Promise<unknown>,
  options: SelectOptions,
  ref: EntryRef,
): Promise<unknown> {
  return throughEntry(cache, meter, entryRead(cache, ref, options), {
    hit: (lookup) => (lookup.whole.found ? { material: lookup.whole.value } : undefined),
    direct: run,
    read: run,
    save: (tokens, value, soft) => cache.entries.saveWhole(ref, tokens, value, queryTtl(options) ?? cache.ttlFor(ref.schema), soft),
    material: (value) => value,
    answer: (value) => value,
  });
}
