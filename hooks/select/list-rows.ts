/**
 * Rows of list-like entries (docs/architecture.md, invariant 1 and 5): the
 * rows a valid list points to, from the row cache and then, race-free, from
 * the database; the rows a list read warms into the row cache; and the fills
 * a refresh begins before its read.
 */
import type { Model, ModelStatic } from 'sequelize';
import { type Conjunction, conditionText, schemeFields } from '../../source/tokens/conjunctions';
import { InvalidationWarning } from '../../source/errors';
import { primaryKeyText, rowKeyText } from '../../source/keys';
import type { EntryRef } from '../../source/lists/entry-cache';
import type { PkValues } from '../../source/lists/entry-format';
import type { AttributeInfo, ModelSchema } from '../../source/model-schema';
import type { FillTicket, RowLookup, WarmTicket } from '../../source/rows/row-cache';
import type { ReadContext } from '../cache-context';
import { refreshRequested, type SelectOptions } from '../query-options';
import { rowsByKeyOptions } from './miss-queries';

/**
 * String keys are looked up case-folded (see keyValueText); the cached row is
 * used only when its key equals what the query asked for exactly, since under
 * a binary collation a differently-cased key is another row.
 */
export function exactKey(schema: ModelSchema, row: Record<string, unknown>, values: unknown[]): boolean {
  return schema.primaryKeys.every((a, i) => {
    if (a.keyKind === 'integer') return true;
    return row[a.name] === values[i];
  });
}

/** Whether a row has one of the value tuples a list's equality conditions allow. */
export function meetsConjunction(schema: ModelSchema, conjunction: Conjunction, row: Record<string, unknown>): boolean {
  const fields = schemeFields(conjunction.scheme);
  if (fields.length === 0) return true;
  const texts = fields.map((field) => conditionText(schema.byName.get(field) as AttributeInfo, row[field]));
  return conjunction.tuples.some((tuple) => tuple.every((text, i) => text === texts[i]));
}

/** Primary key values of a raw row. */
export function pkValuesOf(schema: ModelSchema, row: Record<string, unknown>): PkValues {
  return schema.primaryKeys.map((a) => row[a.name]);
}

/** Fills of missing list rows that put a lease at once; the rest of a larger list's are warmed. */
const LEASES_AT_ONCE = 1000;

/**
 * The rows a valid list points to, in its order: from the row cache (or
 * from `fetched`, the lookup of exactly these rows made with the entry's,
 * see source/lists/remembered-lists.ts), then the missing ones from the
 * database (filled race-free). `undefined` when a
 * pointed-to row no longer exists: the list is stale behind the cache's back
 * and must be rebuilt (django-orm-cache's InvalidationWarning).
 */
export async function rowsOfList(
  cache: ReadContext,
  run: (options: SelectOptions) => Promise<unknown>,
  model: ModelStatic<Model>,
  schema: ModelSchema,
  options: SelectOptions,
  pks: PkValues[],
  fetched: RowLookup | undefined,
  fetch: boolean,
): Promise<Record<string, unknown>[] | undefined | 'incomplete'> {
  if (pks.length === 0) return [];
  const texts = pks.map((pk) => primaryKeyText(schema, pk));
  if (texts.some((t) => t === undefined)) return undefined;
  let lookup = fetched?.ok ? fetched : await cache.rows.lookup(schema, texts as string[]);
  const found = new Map<number, Record<string, unknown>>();
  let missing: number[] = [];
  const sort = (indexes: readonly number[]) => {
    missing = [];
    for (const i of indexes) {
      const row = lookup.rows.get(texts[i] as string);
      if (row && exactKey(schema, row, pks[i] as PkValues)) found.set(i, row);
      else missing.push(i);
    }
  };
  sort(texts.map((_, i) => i));
  // Rows this process is still warming (from the read that filled this
  // list, say): wait for them and look again, rather than read them.
  const warming = fetch && missing.length > 0 ? cache.rows.warming(schema, missing.map((i) => texts[i] as string)) : undefined;
  if (warming) {
    await warming;
    const again = await cache.rows.lookup(schema, [...new Set(missing.map((i) => texts[i] as string))]);
    if (again.ok) {
      lookup = again;
      sort(missing);
    }
  }
  if (missing.length > 0 && !fetch) return 'incomplete';
  if (missing.length > 0) {
    const unique = [...new Set(missing.map((i) => texts[i] as string))];
    // With the store failing, fetch the rows but attempt no fills: each would
    // cost more failing store operations (and deadlines) for nothing. Beyond
    // LEASES_AT_ONCE rows the rest are warmed instead (a lease each, put at
    // once by the ten thousand, would evict one another in a full memcached).
    const unmarked = lookup.ok ? cache.rows.unmarked(schema) : undefined;
    const leased = unique.slice(0, LEASES_AT_ONCE);
    const tickets = new Map(
      lookup.ok
        ? await Promise.all(leased.map(async (text) => [text, await cache.rows.beginFill(schema, text, lookup.storeValues, false, unmarked)] as const))
        : [],
    );
    const warmTicket = lookup.ok && leased.length < unique.length ? cache.rows.warmTicket(schema, lookup.storeValues) : undefined;
    const databaseRows = (await run(rowsByKeyOptions(schema, options, missing.map((i) => pks[i] as PkValues)))) as Record<string, unknown>[];
    const byText = new Map<string, Record<string, unknown>>();
    for (const row of databaseRows) byText.set(rowKeyText(schema, row) as string, row);
    const gone: PkValues[] = [];
    for (const i of missing) {
      const row = byText.get(texts[i] as string);
      if (row && exactKey(schema, row, pks[i] as PkValues)) found.set(i, row);
      else gone.push(pks[i] as PkValues);
    }
    await Promise.all(
      [...byText].map(([text, row]) => {
        const ticket = tickets.get(text);
        return ticket ? cache.rows.completeFill(ticket, row, cache.ttlFor(schema)) : undefined;
      }),
    );
    if (warmTicket) await cache.rows.warm(warmTicket, [...byText].filter(([text]) => !tickets.has(text)), cache.ttlFor(schema));
    if (gone.length > 0) {
      cache.warnMissing(new InvalidationWarning(model.name, gone.map((pk) => (pk.length === 1 ? pk[0] : pk))));
      return undefined;
    }
  }
  return pks.map((_, i) => found.get(i) as Record<string, unknown>);
}

/**
 * Put the full rows a list or tree query read into the row cache. Warming
 * is not awaited: the answer does not need it, and a warm row never replaces
 * a row entry, only tombstones of writes that had finished before the query
 * (RowCache.warm). After `cache: { refresh: true }` the rows cached may be
 * older than what the refresh read (changed behind the cache's back): they
 * are replaced by the fill protocol where the refresh began their fills, and
 * tombstoned otherwise (RowCache.refreshed).
 */
export async function replaceRows(
  cache: ReadContext,
  schema: ModelSchema,
  options: SelectOptions,
  ticket: WarmTicket,
  rows: Record<string, unknown>[],
  refreshTickets: ReadonlyMap<string, FillTicket> = new Map(),
): Promise<void> {
  const keyed = rows.map((row) => [rowKeyText(schema, row) as string, row] as const);
  if (refreshRequested(options)) return cache.rows.refreshed(refreshTickets, ticket, keyed, cache.ttlFor(schema));
  cache.later(cache.rows.warm(ticket, keyed.slice(0, cache.options.warmLimit), cache.ttlFor(schema)));
}

/**
 * Before a refresh's database read: begin the fills of the rows the current
 * entry points to (the rows it will most likely read again), so that they
 * can be replaced by the fill protocol afterwards.
 */
export async function refreshTicketsFor(cache: ReadContext, schema: ModelSchema, ref: EntryRef): Promise<Map<string, FillTicket>> {
  const current = await cache.entries.lookup(ref);
  const texts = (current.pks ?? []).map((pk) => primaryKeyText(schema, pk)).filter((t): t is string => t !== undefined);
  if (texts.length === 0) return new Map();
  const rows = await cache.rows.lookup(schema, texts);
  if (!rows.ok) return new Map();
  const tickets = await Promise.all(texts.map(async (text) => [text, await cache.rows.beginFill(schema, text, rows.storeValues)] as const));
  return new Map(tickets.filter((entry): entry is readonly [string, FillTicket] => entry[1] !== undefined));
}
