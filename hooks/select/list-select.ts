/**
 * An include-free list query from its pointer list (django-orm-cache's
 * design): the entry's primary keys, then the rows in one multi-get, then
 * rows missing from the cache in one `WHERE pk IN (…)`.
 */
import type { Model, ModelStatic } from 'sequelize';
import { primaryKeyText } from '../../source/keys';
import type { EntryRef } from '../../source/lists/entry-cache';
import type { ReadMeter } from '../../source/metrics/metrics';
import type { ModelSchema } from '../../source/model-schema';
import type { FillTicket } from '../../source/rows/row-cache';
import { throughEntry } from '../../stampede/entry-cycle';
import type { ReadContext } from '../cache-context';
import type { Column } from '../columns';
import { refreshRequested, type SelectOptions } from '../query-options';
import { BesideEntry } from './beside-entry';
import { buildResult } from './build-result';
import { meetsConjunction, pkValuesOf, refreshTicketsFor, replaceRows, rowsOfList } from './list-rows';
import { fullListOptions } from './miss-queries';
import { entryRead } from './entry-key';
import { lookupOnly } from '../transactions';

/** Serve a list query from its entry. */
export async function listSelect(
  cache: ReadContext,
  meter: ReadMeter,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  columns: Column[],
  ref: EntryRef,
  ttl: number,
): Promise<unknown> {
  const startedAt = cache.options.clock.now();
  let refreshTickets: Map<string, FillTicket> | undefined;
  const beside = new BesideEntry(cache, ref.entryKey);
  return throughEntry(cache, meter, entryRead(cache, ref, options), {
    beforeRead: refreshRequested(options)
      ? async () => {
          refreshTickets = await refreshTicketsFor(cache, schema, ref);
        }
      : undefined,
    alongside: () => beside.fetch(),
    hit: async (lookup) => {
      if (!lookup.pks) return undefined;
      const fetched = await beside.usable(lookup)?.rows(schema);
      const rows = await rowsOfList(cache, run, model, schema, options, lookup.pks, fetched, !lookupOnly(cache, options));
      if (rows === 'incomplete') return undefined;
      if (!rows) {
        beside.forget();
        return 'rebuild';
      }
      beside.remember(lookup, new Map([[schema, lookup.pks]]), []);
      // A row that no longer meets the list's equality conditions was written
      // between the list's and the rows' lookups; that write is invalidating
      // the list, so read the database rather than return a mix of both.
      return rows.every((row) => meetsConjunction(schema, ref.conjunction, row)) ? { material: rows } : undefined;
    },
    direct: () => run(options),
    read: async () => (await run(fullListOptions(schema, options))) as Record<string, unknown>[],
    save: async (tokens, rows, soft, prepared) => {
      const pks = rows.map((row) => pkValuesOf(schema, row));
      if (!pks.every((pk) => primaryKeyText(schema, pk) !== undefined)) return;
      // The row tokens (namespace, row epoch) lead the list's tokens and were
      // read before the database read, as a row fill requires; so was the warm token.
      const generation = prepared.marks.get(cache.keys.writes(schema))?.generation;
      const warm = [...tokens.slice(0, 2), prepared.warm.get(cache.keys.warm(schema)) as string];
      await replaceRows(cache, schema, options, { schema, tokens: warm, startedAt, generation }, rows, refreshTickets);
      await cache.entries.save(ref, tokens, pks, ttl, soft);
    },
    material: (rows) => rows,
    answer: (rows) => buildResult(model, options, columns, rows),
  });
}
