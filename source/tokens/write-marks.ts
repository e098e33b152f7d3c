/**
 * Write marks: one memcached counter per model (`…:w`, see keys.ts) that
 * tells readers whether a write of the model is between its first and last
 * invalidation, and numbers the writes. Both live in one counter so that one
 * read sees them together (two keys could sit on two servers of a ring and
 * be read in either order):
 *
 *   value = writes begun × MARK_UNIT + writes in flight
 *
 * A write adds MARK_UNIT + 1 when it begins (the counter's new value gives
 * its number, its generation) and subtracts 1 when it ends. A reader that
 * sees no write in flight, and generation g, knows that every write numbered
 * g or less had made its last invalidation, and so had committed, before
 * that read: the tombstone such a write left may be replaced by a row read
 * from the database after it (hooks/select/list-rows.ts warms rows that way).
 */
import type { GuardedStore } from '../store/guarded-store';
import type { KeySpace } from '../keys';
import type { ModelSchema } from '../model-schema';

/** Writes in flight one counter can hold (more would carry into the count of writes begun). */
export const MARK_UNIT = 65_536;

/** What a write adds when it begins; it subtracts 1 when it ends. */
export const MARK_BEGIN = MARK_UNIT + 1;

/** What one counter value says. */
export interface MarkReading {
  /** Writes between their first and last invalidation. */
  inFlight: number;
  /** How many writes have begun (the generation of the last one). */
  generation: number;
}

/** Read a counter value (absent reads as 0). */
export function readMark(value: number): MarkReading {
  return { inFlight: value % MARK_UNIT, generation: Math.floor(value / MARK_UNIT) };
}

/**
 * Seconds a write mark outlives its last step: a writer that dies with its
 * mark up blocks fills of that model for at most this long (reads stay
 * correct, from the database). A single write (or commit) that takes longer
 * is no longer marked after it: its last invalidation still runs.
 */
export const MARK_TTL = 60;

/**
 * Run `first` (a write's first invalidation) and then `work` with the write
 * marks of `schemas` raised; both get the write's generation in each mark,
 * where the store gave one. While a model's mark is up, readers store no
 * entry that depends on it (their database read may predate the write's
 * commit). A store without counters keeps no marks.
 *
 * On a store that applies this process's commands in the order called
 * (`ordered`: MemoryStore, MemcachedStore with one server on its built-in
 * client), `first` is sent right behind the marks, in the same round trip:
 * it is applied after them, so a reader that sees its rotations sees the
 * marks (a reader reads the marks after the tokens). Its tombstones carry no
 * generation then, so no warming read replaces them (the last
 * invalidation's do). A counter that did not exist is created by an `add`
 * sent after `first` was applied, and a failed step raised nothing: `first`
 * runs again under the marks.
 *
 * The marks are lowered without the write waiting (`later` keeps the
 * promise): a mark that stays up a little longer only makes readers store
 * nothing a little longer, and it is lowered only after `work`, the write's
 * last invalidation, has returned. MemcachedStore's built-in client applies
 * one process's commands to a server in the order sent, so this process's
 * next read of the mark already sees it lowered.
 */
export async function underMarks<T>(
  store: GuardedStore,
  keys: KeySpace,
  schemas: readonly ModelSchema[],
  first: (generations: ReadonlyMap<ModelSchema, number>) => Promise<unknown>,
  work: (generations: ReadonlyMap<ModelSchema, number>) => Promise<T>,
  later: (lowered: Promise<unknown>) => void,
): Promise<T> {
  const generations = new Map<ModelSchema, number>();
  if (schemas.length === 0 || !store.counts) {
    await first(generations);
    return work(generations);
  }
  const unique = [...new Set(schemas)];
  const raising = Promise.all(unique.map((schema) => store.step(keys.writes(schema), MARK_BEGIN, MARK_TTL)));
  const early = store.ordered ? first(new Map()) : undefined;
  const raised = await raising;
  unique.forEach((schema, i) => {
    const value = raised[i];
    if (value !== undefined) generations.set(schema, readMark(value).generation);
  });
  try {
    await early;
    if (!early || raised.some((value) => value === undefined || value === MARK_BEGIN)) await first(generations);
    return await work(generations);
  } finally {
    later(Promise.all(unique.map((schema, i) => (raised[i] === undefined ? undefined : store.step(keys.writes(schema), -1, MARK_TTL)))));
  }
}
