/**
 * A query pointers cannot represent (joins of partial rows, grouping,
 * computed columns) from one whole-value entry of its flat rows, which
 * depends on every model it reads; built into instances exactly as
 * Sequelize builds them. Counts and aggregates are whole values too
 * (count-select.ts).
 */
import type { Model, ModelStatic } from 'sequelize';
import type { EntryRef } from '../../source/lists/entry-cache';
import type { ReadMeter } from '../../source/metrics/metrics';
import { throughEntry } from '../../stampede/entry-cycle';
import type { ReadContext } from '../cache-context';
import type { SelectOptions } from '../query-options';
import { buildFromFlat } from './build-result';
import { entryRead } from './entry-key';

/** Serve a select from its whole-value entry. */
export async function wholeSelect(
  cache: ReadContext,
  meter: ReadMeter,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  options: SelectOptions,
  ref: EntryRef,
  ttl: number,
): Promise<unknown> {
  return throughEntry(cache, meter, entryRead(cache, ref, options), {
    hit: (lookup) =>
      lookup.whole.found && Array.isArray(lookup.whole.value) ? { material: lookup.whole.value as Record<string, unknown>[] } : undefined,
    direct: () => run(options),
    read: async () => (await run({ ...options, raw: true, plain: false, nest: false })) as Record<string, unknown>[],
    save: (tokens, rows, soft) => cache.entries.saveWhole(ref, tokens, rows, ttl, soft),
    material: (rows) => rows,
    answer: (rows) => buildFromFlat(cache.sequelize, model, options, rows),
  });
}
